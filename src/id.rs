//! Identifiers: cheap to clone (a shared string), validated where they come in.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

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

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Makes an identifier, refusing empty strings, control characters and more than
            /// [`MAX_ID_BYTES`] bytes.
            pub fn new(text: &str) -> Result<$name, IdError> {
                validate(text)?;
                Ok($name(Arc::from(text)))
            }

            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, formatter)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
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
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&text).map_err(serde::de::Error::custom)
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
