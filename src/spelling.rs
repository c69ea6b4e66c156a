//! The one spelling of each value of a fieldless enum, as flags, files and resources write it:
//! the list of values, the spelling of each, `Display`, a case-insensitive lookup, and a
//! `FromStr` whose error names what was expected.

/// Declares the enum with each variant's spelling beside it,
/// `spelling! { #[derive(..)] pub enum Enum { Variant => "TEXT", ... } }`, and gives it
/// `Enum::ALL`, `as_str`, `from_spelling`, `spellings` and `Display`.
///
/// A trailing `from_str: "WHAT"` adds a case-insensitive `FromStr` that refuses other text with
/// ``unknown WHAT `TEXT`: expected one of A, B``; `from_str: "WHAT", expected "A or B"` words
/// the expected values itself.
macro_rules! spelling {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
        from_str: $what:literal $(, expected $expected:literal)?
    ) => {
        spelling! {
            $(#[$meta])*
            $vis enum $name {
                $($(#[$vmeta])* $variant => $text,)+
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $name::from_spelling(s).ok_or_else(|| {
                    let expected = spelling!(@expected $name $(, $expected)?);
                    format!("unknown {} `{s}`: expected {expected}", $what)
                })
            }
        }
    };
    (@expected $name:ident) => {
        format!("one of {}", $name::spellings())
    };
    (@expected $name:ident, $expected:literal) => {
        $expected
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value spelled `text`, in any case.
            pub fn from_spelling(text: &str) -> Option<$name> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text))
            }

            /// Every spelling, for messages: `A, B, C`.
            pub fn spellings() -> String {
                $name::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use spelling;

#[cfg(test)]
mod tests {
    spelling! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Listed {
            One => "ONE",
            Two => "TWO",
        }
        from_str: "number"
    }

    spelling! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Worded {
            Yes => "yes",
            No => "no",
        }
        from_str: "answer", expected "yes or no"
    }

    #[test]
    fn from_str_ignores_case_and_names_what_it_expected() {
        assert_eq!("one".parse(), Ok(Listed::One));
        assert_eq!("NO".parse(), Ok(Worded::No));
        assert_eq!(Worded::spellings(), "yes, no");
        assert_eq!(
            "three".parse::<Listed>(),
            Err("unknown number `three`: expected one of ONE, TWO".to_string())
        );
        assert_eq!(
            "maybe".parse::<Worded>(),
            Err("unknown answer `maybe`: expected yes or no".to_string())
        );
    }
}
