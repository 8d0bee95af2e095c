//! Identifiers: validated where they come in, and cheap to clone: a short one is copied, a
//! long one shared.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest identifier accepted, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Why a string was refused as an identifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier is the empty string.
    #[error("an identifier must not be empty")]
    Empty,
    /// The identifier is longer than [`MAX_ID_BYTES`].
    #[error("identifier `{0}...` is longer than {MAX_ID_BYTES} bytes")]
    TooLong(String),
    /// The identifier has a control character.
    #[error("identifier {0:?} contains a control character")]
    ControlCharacter(String),
}

fn validate(text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    if text.len() > MAX_ID_BYTES {
        let cut = (0..=32).rev().find(|index| text.is_char_boundary(*index)).unwrap_or(0);
        return Err(IdError::TooLong(text[..cut].to_owned()));
    }
    if text.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter(text.to_owned()));
    }
    Ok(())
}

/// The longest identifier kept in place, in bytes: the most that fits, beside its length and
/// the variant's tag, in the 16 bytes an identifier takes anyway (a shared text's 8-byte
/// pointer, and the tag padded to the pointer's alignment).
const IN_PLACE_BYTES: usize = 14;

/// An identifier's text. Ids are cloned into every posting, lot and receipt an event writes,
/// and an `Arc`'s shared counter costs an atomic update per clone and per drop, far dearer than
/// copying 16 bytes; short ids, which most are, are copied instead (BENCHMARKS.md measures the
/// gain). Canonical: a text is in place exactly when it is at most [`IN_PLACE_BYTES`] long, so
/// equal texts have equal variants.
#[derive(Clone)]
enum Text {
    /// The text in the first `length` bytes; the bytes past it are zero.
    InPlace { length: u8, bytes: [u8; IN_PLACE_BYTES] },
    /// A text too long to keep in place, behind a thin pointer so that it fits in 16 bytes.
    Shared(Arc<Box<str>>),
}

impl Text {
    /// Keeps a text that [`validate`] accepted.
    fn new(text: &str) -> Text {
        match u8::try_from(text.len()) {
            Ok(length) if text.len() <= IN_PLACE_BYTES => {
                let mut bytes = [0; IN_PLACE_BYTES];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Text::InPlace { length, bytes }
            }
            _ => Text::Shared(Arc::new(Box::from(text))),
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::InPlace { length, bytes } => &bytes[..usize::from(*length)],
            Text::Shared(text) => text.as_bytes(),
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // Safe code has no unchecked conversion, so the short text is checked again; the
            // comparisons and hashes work on the bytes, so only display, serialization and
            // lookups by `&str` pay for it.
            Text::InPlace { .. } => std::str::from_utf8(self.as_bytes()).expect("an identifier is UTF-8 when made"),
            Text::Shared(text) => text,
        }
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Text) -> bool {
        match (self, other) {
            // The bytes past the length are zero, so whole arrays compare as the texts do.
            (Text::InPlace { length, bytes }, Text::InPlace { length: other_length, bytes: other_bytes }) => {
                length == other_length && bytes == other_bytes
            }
            // `Arc`'s own comparison tries the pointers first.
            (Text::Shared(text), Text::Shared(other_text)) => text == other_text,
            _ => false,
        }
    }
}

impl Eq for Text {}

impl Ord for Text {
    /// As the texts order (bytewise, as `str` does), whatever their variants.
    #[inline]
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for Text {
    #[inline]
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Text {
    /// As `str` hashes (its bytes, then `0xff`: what `Hasher::write_str` does, which hashers
    /// on stable Rust cannot change), so that maps keyed by ids can be searched by `&str`
    /// through `Borrow<str>`; without converting the bytes to a `str` first.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

/// Reads an identifier from the text the format lends, without a `String` of its own
/// first: a short one is copied straight into place.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an identifier (a string)")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text, E> {
        validate(text).map_err(E::custom)?;
        Ok(Text::new(text))
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Text);

        impl $name {
            /// Makes an identifier, refusing empty strings, control characters and more than
            /// [`MAX_ID_BYTES`] bytes.
            pub fn new(text: &str) -> Result<$name, IdError> {
                validate(text)?;
                Ok($name(Text::new(text)))
            }

            /// The identifier as a string.
            #[inline]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.0.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.0.as_str(), formatter)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<$name, IdError> {
                $name::new(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.0.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                deserializer.deserialize_str(TextVisitor).map($name)
            }
        }
    };
}

id_type!(
    /// A member of the program (a customer account).
    ///
    /// ```
    /// use loyalty_engine::MemberId;
    /// let member = MemberId::new("m-1").unwrap();
    /// assert_eq!(member.as_str(), "m-1");
    /// assert!(MemberId::new("").is_err());
    /// ```
    MemberId
);
id_type!(
    /// An event, unique across the whole ledger. Posting ids derive from it.
    EventId
);

impl EventId {
    /// Whether the id ends with `suffix`: a look at its bytes, without the UTF-8 check
    /// [`as_str`](Self::as_str) makes of a short one (the ledger asks every event).
    #[inline]
    pub(crate) fn ends_with(&self, suffix: &str) -> bool {
        self.0.as_bytes().ends_with(suffix.as_bytes())
    }
}
id_type!(
    /// An order, unique per member.
    OrderId
);
id_type!(
    /// An earn rule of a program.
    RuleId
);
id_type!(
    /// Whoever pays for an accrual: the program owner, a supplier, a partner.
    FunderId
);
id_type!(
    /// A reward a stamp card issued, unique per member (`r-1`, `r-2`, ...).
    RewardId
);
id_type!(
    /// A stock-keeping unit: what a purchase line sold.
    Sku
);
id_type!(
    /// A short name from outside that the engine matches on: a category, channel, merchant,
    /// supplier, label key or value, reward or custom event name.
    Tag
);

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::collections::{BTreeMap, HashMap};
    use std::hash::{BuildHasher, BuildHasherDefault};

    use proptest::prelude::{Just, Strategy, prop_oneof};

    use super::{IN_PLACE_BYTES, MAX_ID_BYTES, OrderId, Text};
    use crate::id_hash::IdHashBuilder;

    /// Texts around the in-place limit, multi-byte characters included, so that pairs mix both
    /// variants.
    fn texts_around_the_limit() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ab\u{e9}\u{2603}]{1,20}").expect("a valid regex")
    }

    /// Two texts, equal half the time: independent draws would almost never be.
    fn pairs_of_texts() -> impl Strategy<Value = (String, String)> {
        texts_around_the_limit()
            .prop_flat_map(|left| (Just(left.clone()), prop_oneof![Just(left), texts_around_the_limit()]))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// An id compares, orders and hashes as its text does, whether kept in place or shared,
        /// so maps keyed by ids can be searched by `&str` and sort as the texts would.
        #[test]
        fn ids_behave_as_their_texts((left, right) in pairs_of_texts()) {
            // Made apart, so that equal long ids share no pointer.
            let (left_id, right_id) = (OrderId::new(&left).unwrap(), OrderId::new(&right).unwrap());
            proptest::prop_assert_eq!(left_id.as_str(), left.as_str());
            proptest::prop_assert_eq!(left_id == right_id, left == right);
            proptest::prop_assert_eq!(left_id.cmp(&right_id), left.cmp(&right));
            let standard = BuildHasherDefault::<DefaultHasher>::default();
            proptest::prop_assert_eq!(standard.hash_one(&left_id), standard.hash_one(left.as_str()));
            let ours = IdHashBuilder::default();
            proptest::prop_assert_eq!(ours.hash_one(&left_id) == ours.hash_one(&right_id), left == right);
            proptest::prop_assert_eq!(matches!(left_id.0, Text::InPlace { .. }), left.len() <= IN_PLACE_BYTES);
        }
    }

    #[test]
    fn ids_at_the_limit_and_past_it_read_print_and_look_up_as_their_texts() {
        let at_the_limit = "o-123456789012";
        let past_it = "o-1234567890123";
        assert_eq!((at_the_limit.len(), past_it.len()), (IN_PLACE_BYTES, IN_PLACE_BYTES + 1));
        let hashed: HashMap<OrderId, u32> =
            [(OrderId::new(at_the_limit).unwrap(), 1), (OrderId::new(past_it).unwrap(), 2)].into();
        let sorted: BTreeMap<OrderId, u32> = hashed.clone().into_iter().collect();
        assert_eq!((hashed.get(at_the_limit), hashed.get(past_it), hashed.get("o-2")), (Some(&1), Some(&2), None));
        assert_eq!((sorted.get(at_the_limit), sorted.get(past_it), sorted.get("o-2")), (Some(&1), Some(&2), None));
        for text in [at_the_limit, past_it] {
            let id = OrderId::new(text).unwrap();
            assert_eq!((id.to_string(), format!("{id:?}")), (text.to_owned(), format!("{text:?}")));
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<OrderId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn reading_an_id_holds_it_to_the_same_limits_as_making_one() {
        let longest = "x".repeat(MAX_ID_BYTES);
        let read =
            |text: &str| serde_json::from_str::<OrderId>(&format!("{text:?}")).map_err(|error| error.to_string());
        assert_eq!(read(&longest).unwrap().as_str(), longest);
        let too_long = read(&format!("{longest}x")).unwrap_err();
        assert!(too_long.contains("longer than 128 bytes"), "{too_long}");
        assert!(read("").unwrap_err().contains("must not be empty"));
        assert!(read("o\n1").unwrap_err().contains("control character"));
        assert!(serde_json::from_str::<OrderId>("12").is_err(), "a number is not an id");
    }

    /// Ids fill every posting, lot and receipt a member keeps: they stay two words, and an
    /// absent one, or an asset that may name a card, costs nothing more.
    #[test]
    fn an_id_takes_two_words() {
        assert_eq!(size_of::<OrderId>(), 16);
        assert_eq!(size_of::<Option<OrderId>>(), 16);
        assert_eq!(size_of::<crate::Asset>(), 16);
    }
}
