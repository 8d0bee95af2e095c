//! Reading an event, internally tagged by `"type"`, straight from the input where the tag comes
//! first: serde's derived reading of internally tagged enums buffers the whole object before it
//! reads a field, so an error in a field (an unknown field of a line, a float where a decimal
//! belongs) could no longer say where in the input it was. Fields before the tag are buffered,
//! as the derive would buffer them all.

use std::fmt;
use std::marker::PhantomData;
use std::vec;

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::Event;

/// The values of `"type"`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Purchase,
    Return,
    Redeem,
    Donate,
    Adjust,
    Transfer,
    ReceiveTransfer,
    RedeemReward,
    VoidReward,
    Enroll,
    Referral,
    BuyMembership,
    EndMembership,
    Custom,
    Tick,
}

const TAG: &str = "type";

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an event: an object with a \"type\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut before = Vec::new();
        let kind = loop {
            let Some(key) = map.next_key::<String>()? else { return Err(de::Error::missing_field(TAG)) };
            if key == TAG {
                // As text first, so that a tag of another type says so rather than "expected value".
                break Kind::deserialize(StringDeserializer::<A::Error>::new(map.next_value()?))?;
            }
            before.push((key, map.next_value::<Buffered>()?));
        };
        let fields = Resumed { before: before.into_iter(), value: None, rest: map };
        Ok(match kind {
            Kind::Purchase => Event::Purchase(read(fields)?),
            Kind::Return => Event::Return(read(fields)?),
            Kind::Redeem => Event::Redeem(read(fields)?),
            Kind::Donate => Event::Donate(read(fields)?),
            Kind::Adjust => Event::Adjust(read(fields)?),
            Kind::Transfer => Event::Transfer(read(fields)?),
            Kind::ReceiveTransfer => Event::ReceiveTransfer(read(fields)?),
            Kind::RedeemReward => Event::RedeemReward(read(fields)?),
            Kind::VoidReward => Event::VoidReward(read(fields)?),
            Kind::Enroll => Event::Enroll(read(fields)?),
            Kind::Referral => Event::Referral(read(fields)?),
            Kind::BuyMembership => Event::BuyMembership(read(fields)?),
            Kind::EndMembership => Event::EndMembership(read(fields)?),
            Kind::Custom => Event::Custom(read(fields)?),
            Kind::Tick => Event::Tick(read(fields)?),
        })
    }
}

fn read<'de, T: Deserialize<'de>, A: MapAccess<'de>>(fields: Resumed<A>) -> Result<T, A::Error> {
    T::deserialize(MapAccessDeserializer::new(fields))
}

/// The event's fields other than the tag: those buffered before it, then the rest of the input.
struct Resumed<A> {
    before: vec::IntoIter<(String, Buffered)>,
    /// The value of the buffered key just handed out.
    value: Option<Buffered>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Resumed<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.before.next() {
            self.value = Some(value);
            return seed.deserialize(StringDeserializer::new(key)).map(Some);
        }
        let Some(key) = self.rest.next_key::<String>()? else { return Ok(None) };
        if key == TAG {
            return Err(de::Error::duplicate_field(TAG));
        }
        seed.deserialize(StringDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value.into_deserializer()),
            None => self.rest.next_value_seed(seed),
        }
    }
}

/// A value read before the tag, kept until the tag says what it belongs to. Only what a
/// self-describing format hands out; events hold no enums, so none need buffering. No float:
/// no field of an event takes one (decimals are written as strings or integers), so a float
/// is refused here, as the field would refuse it, rather than held in binary floating point.
#[derive(Debug)]
enum Buffered {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Text(String),
    Some(Box<Buffered>),
    List(Vec<Buffered>),
    Map(Vec<(Buffered, Buffered)>),
}

impl<'de> Deserialize<'de> for Buffered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Buffered, D::Error> {
        deserializer.deserialize_any(BufferedVisitor)
    }
}

struct BufferedVisitor;

impl<'de> Visitor<'de> for BufferedVisitor {
    type Value = Buffered;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field of an event (a decimal written as a string, such as \"10.50\", or an integer)")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Buffered, E> {
        Ok(Buffered::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Buffered, E> {
        Ok(Buffered::Signed(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Buffered, E> {
        Ok(Buffered::Unsigned(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Buffered, E> {
        Ok(Buffered::Text(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Buffered, E> {
        Ok(Buffered::Text(value))
    }

    fn visit_unit<E>(self) -> Result<Buffered, E> {
        Ok(Buffered::Null)
    }

    fn visit_none<E>(self) -> Result<Buffered, E> {
        Ok(Buffered::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Buffered, D::Error> {
        Ok(Buffered::Some(Box::new(Buffered::deserialize(deserializer)?)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Buffered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Buffered::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Buffered, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Buffered::Map(entries))
    }
}

impl<'de, E: de::Error> IntoDeserializer<'de, E> for Buffered {
    type Deserializer = BufferedDeserializer<E>;

    fn into_deserializer(self) -> BufferedDeserializer<E> {
        BufferedDeserializer { value: self, error: PhantomData }
    }
}

/// Hands a buffered value to whatever reads it, as the input would have.
struct BufferedDeserializer<E> {
    value: Buffered,
    error: PhantomData<E>,
}

impl<'de, E: de::Error> Deserializer<'de> for BufferedDeserializer<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Buffered::Null => visitor.visit_unit(),
            Buffered::Bool(value) => visitor.visit_bool(value),
            Buffered::Unsigned(value) => visitor.visit_u64(value),
            Buffered::Signed(value) => visitor.visit_i64(value),
            Buffered::Text(value) => visitor.visit_string(value),
            Buffered::Some(value) => visitor.visit_some((*value).into_deserializer()),
            Buffered::List(items) => {
                let mut items = SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut items)?;
                items.end()?;
                Ok(value)
            }
            Buffered::Map(entries) => {
                let mut entries = MapDeserializer::new(entries.into_iter());
                let value = visitor.visit_map(&mut entries)?;
                entries.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Buffered::Null => visitor.visit_none(),
            Buffered::Some(value) => visitor.visit_some((*value).into_deserializer()),
            value => visitor.visit_some(value.into_deserializer()),
        }
    }

    // The methods a reader may call, each handed the buffered value as it is.
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
