//! The one spelling of each value of a fieldless enum, as flags, files and resources write it:
//! the list of values, the spelling of each, `Display`, and a case-insensitive lookup that the
//! enum's `FromStr` builds its own error around.

/// Declares the enum with each variant's spelling beside it,
/// `spelling! { #[derive(..)] pub enum Enum { Variant => "TEXT", ... } }`, and gives it
/// `Enum::ALL`, `as_str`, `from_spelling`, `spellings` and `Display`.
macro_rules! spelling {
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
