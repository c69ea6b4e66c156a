//! Header maps as the proxy keeps them: ordered, names lower-cased, looked up case-insensitively,
//! and their proxy-wasm serialization.

use serde::Serialize;

/// An ordered list of header fields. Names are stored lower-case, as Envoy (HTTP/2 style) does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HeaderMap {
    fields: Vec<(String, String)>,
}

impl HeaderMap {
    pub fn new() -> Self {
        HeaderMap::default()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The bytes of every name and value, as Envoy counts a header map's size.
    pub fn byte_size(&self) -> usize {
        self.fields.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The values of `name`, joined with `,` when it appears more than once (as Envoy returns them).
    pub fn get(&self, name: &str) -> Option<String> {
        let mut values = self
            .fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next()?;
        let mut joined = first.to_string();
        for v in values {
            joined.push(',');
            joined.push_str(v);
        }
        Some(joined)
    }

    /// One field a name, in the order the names first appear, with its values joined as
    /// [`HeaderMap::get`] joins them: the map as Envoy gives it as a property.
    pub fn joined(&self) -> HeaderMap {
        let mut joined = HeaderMap::new();
        for (name, _) in &self.fields {
            if !joined.contains(name) {
                let value = self.get(name).unwrap_or_default();
                joined.fields.push((name.clone(), value));
            }
        }
        joined
    }

    pub fn contains(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    pub fn add(&mut self, name: &str, value: &str) {
        self.fields
            .push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// Sets `name` to one `value`, replacing every existing value in place of the first.
    pub fn replace(&mut self, name: &str, value: &str) {
        match self
            .fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                self.fields[first].1 = value.to_string();
                let mut index = 0;
                self.fields.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(name);
                    index += 1;
                    keep
                });
            }
            None => self.add(name, value),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The proxy-wasm map encoding: a count, then (name length, value length) pairs, then each
    /// name and value followed by NUL; all integers little-endian u32.
    pub fn serialize(&self) -> Vec<u8> {
        let size = 4 + self
            .fields
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len() + 2)
            .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&(self.fields.len() as u32).to_le_bytes());
        for (n, v) in &self.fields {
            out.extend_from_slice(&(n.len() as u32).to_le_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (n, v) in &self.fields {
            out.extend_from_slice(n.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    /// Decodes the proxy-wasm map encoding; `None` when it is malformed.
    pub fn deserialize(bytes: &[u8]) -> Option<HeaderMap> {
        // An empty map may come as no bytes or as a single zero byte.
        if bytes.len() <= 1 {
            return Some(HeaderMap::new());
        }
        let word = |at: usize| -> Option<usize> {
            let b = bytes.get(at..at.checked_add(4)?)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let count = word(0)?;
        let mut sizes = Vec::with_capacity(count.min(1024));
        for i in 0..count {
            let at = 4usize.checked_add(i.checked_mul(8)?)?;
            sizes.push((word(at)?, word(at + 4)?));
        }
        let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
        let mut map = HeaderMap::new();
        for (nlen, vlen) in sizes {
            let name = bytes.get(at..at.checked_add(nlen)?)?;
            at = at.checked_add(nlen)? + 1;
            let value = bytes.get(at..at.checked_add(vlen)?)?;
            at = at.checked_add(vlen)? + 1;
            map.add(
                &String::from_utf8_lossy(name),
                &String::from_utf8_lossy(value),
            );
        }
        // Envoy takes no map with bytes left over.
        (at == bytes.len()).then_some(map)
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for HeaderMap {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut map = HeaderMap::new();
        for (n, v) in iter {
            map.add(n.as_ref(), v.as_ref());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_spec_example() {
        let map: HeaderMap = [("a", "1"), ("b", "22")].into_iter().collect();
        let bytes = map.serialize();
        let mut expected = vec![2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        expected.extend_from_slice(b"a\x001\x00b\x0022\x00");
        assert_eq!(bytes, expected);
        assert_eq!(HeaderMap::deserialize(&bytes), Some(map));
    }

    #[test]
    fn empty_and_malformed_maps() {
        assert_eq!(HeaderMap::deserialize(&[]), Some(HeaderMap::new()));
        assert_eq!(HeaderMap::deserialize(&[0]), Some(HeaderMap::new()));
        assert_eq!(HeaderMap::deserialize(&[5, 0, 0, 0, 1]), None);
        assert_eq!(
            HeaderMap::deserialize(&[1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]),
            None
        );
        // Bytes left over after the last value: Envoy takes none of the map.
        let mut long = [("a", "1")].into_iter().collect::<HeaderMap>().serialize();
        long.extend_from_slice(b"\0\0");
        assert_eq!(HeaderMap::deserialize(&long), None);
    }

    #[test]
    fn names_are_case_insensitive() {
        let mut map = HeaderMap::new();
        map.add("X-A", "1");
        map.add("x-a", "2");
        assert_eq!(map.get("x-A").as_deref(), Some("1,2"));
        map.replace("X-a", "3");
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![("x-a", "3")]);
        map.remove("X-A");
        assert!(map.is_empty());
    }

    #[test]
    fn a_joined_map_has_one_field_a_name() {
        let map: HeaderMap = [("x-a", "1"), ("x-b", "2"), ("X-A", "3")]
            .into_iter()
            .collect();
        let joined = map.joined();
        assert_eq!(
            joined.iter().collect::<Vec<_>>(),
            vec![("x-a", "1,3"), ("x-b", "2")]
        );
    }
}
