//! The serde implementations of generated state enums, as generic helpers.
//!
//! `#[workflow]` writes `Serialize` and `Deserialize` for its state enum itself, rather than
//! deriving them: serde's derive generates a field-identifier enum and a visitor per variant,
//! which for a workflow of a hundred awaits is most of the code the compiler sees. Here each
//! variant costs one `match` arm that calls these helpers, and the encoding is exactly the
//! derive's (a struct variant per state, fields in order), so snapshots written either way read
//! the same.
//!
//! Reading accepts a sequence of fields (postcard, bincode) or a map whose keys come in the
//! order the state writes them (JSON as the state serializes itself).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, Deserializer, Error as _, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::SerializeStructVariant;
use serde::{Deserialize, Serialize};

/// The variant names of a generated state enum, in order.
pub trait StateVariants {
    /// The enum's name, as serde names it.
    const NAME: &'static str;
    /// Its variants' names; the index of a name is its variant index.
    const VARIANTS: &'static [&'static str];
}

/// A variant's index, read from an index (postcard) or a name (JSON).
pub(crate) struct VariantIndex<S>(pub(crate) u32, PhantomData<S>);

impl<'de, S: StateVariants> Deserialize<'de> for VariantIndex<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Index<S>(PhantomData<S>);
        impl<S: StateVariants> Visitor<'_> for Index<S> {
            type Value = VariantIndex<S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a state of {}", S::NAME)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if (v as usize) < S::VARIANTS.len() {
                    Ok(VariantIndex(v as u32, PhantomData))
                } else {
                    Err(E::invalid_value(de::Unexpected::Unsigned(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match S::VARIANTS.iter().position(|n| *n == v) {
                    Some(i) => Ok(VariantIndex(i as u32, PhantomData)),
                    None => Err(E::unknown_variant(v, S::VARIANTS)),
                }
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                match std::str::from_utf8(v) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        d.deserialize_identifier(Index(PhantomData))
    }
}

/// How a generated state enum reads its variants' fields.
pub trait StateFields: StateVariants + Sized {
    /// The field names of each variant, indexed like [`StateVariants::VARIANTS`]; `None` for a
    /// unit variant.
    const FIELDS: &'static [Option<&'static [&'static str]>];
    /// Builds variant `variant`, reading its fields from `r` in order.
    fn read<'de, R: FieldReader<'de>>(variant: u32, r: &mut R) -> Result<Self, R::Error>;
}

/// Reads the fields of one state, in order.
pub trait FieldReader<'de> {
    /// The deserializer's error.
    type Error: de::Error;
    /// The next field, named `name`, typed where the user wrote its type (so that
    /// "`Receipt: Deserialize` is not satisfied" is reported there).
    fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, Self::Error>;
    /// The next field, a workflow's single input: bounded by `Workflow::Input`, whose bounds
    /// are reported at the impl of `Workflow`.
    fn input<W: crate::Workflow>(&mut self, name: &'static str) -> Result<W::Input, Self::Error> {
        self.field::<W::Input>(name)
    }
}

struct SeqReader<A> {
    seq: A,
    at: usize,
}

impl<'de, A: SeqAccess<'de>> FieldReader<'de> for SeqReader<A> {
    type Error = A::Error;
    fn field<T: DeserializeOwned>(&mut self, _: &'static str) -> Result<T, A::Error> {
        let v = self
            .seq
            .next_element::<T>()?
            .ok_or_else(|| A::Error::invalid_length(self.at, &"every field of the state"))?;
        self.at += 1;
        Ok(v)
    }
}

struct MapReader<A> {
    map: A,
}

impl<'de, A: MapAccess<'de>> FieldReader<'de> for MapReader<A> {
    type Error = A::Error;
    fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, A::Error> {
        let key: String = self
            .map
            .next_key()?
            .ok_or_else(|| A::Error::missing_field(name))?;
        if key != name {
            return Err(A::Error::custom(format!(
                "expected the state's field `{name}`, found `{key}`"
            )));
        }
        self.map.next_value::<T>()
    }
}

/// The reader of a unit variant: it has no fields.
struct NoFields<E>(PhantomData<E>);

impl<'de, E: de::Error> FieldReader<'de> for NoFields<E> {
    type Error = E;
    fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, E> {
        Err(E::custom(format!("a unit state has no field `{name}`")))
    }
}

struct FieldsVisitor<S> {
    variant: u32,
    _state: PhantomData<S>,
}

impl<'de, S: StateFields> Visitor<'de> for FieldsVisitor<S> {
    type Value = S;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fields of a state of {}", S::NAME)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<S, A::Error> {
        S::read(self.variant, &mut SeqReader { seq, at: 0 })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S, A::Error> {
        S::read(self.variant, &mut MapReader { map })
    }
}

struct StateVisitor<S>(PhantomData<S>);

impl<'de, S: StateFields> Visitor<'de> for StateVisitor<S> {
    type Value = S;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a state of {}", S::NAME)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<S, A::Error> {
        let (VariantIndex(variant, _), access) = data.variant::<VariantIndex<S>>()?;
        match S::FIELDS.get(variant as usize).copied().flatten() {
            None => {
                access.unit_variant()?;
                S::read(variant, &mut NoFields(PhantomData))
            }
            Some(names) => access.struct_variant(
                names,
                FieldsVisitor {
                    variant,
                    _state: PhantomData,
                },
            ),
        }
    }
}

/// `Deserialize::deserialize` of a generated state enum.
pub fn deserialize_state<'de, S: StateFields, D: Deserializer<'de>>(d: D) -> Result<S, D::Error> {
    d.deserialize_enum(S::NAME, S::VARIANTS, StateVisitor(PhantomData))
}

/// Serializes one field of a state, typed where the user wrote its type (so that "`Receipt:
/// Serialize` is not satisfied" is reported there).
pub fn ser_field<T: Serialize, S: SerializeStructVariant>(
    s: &mut S,
    key: &'static str,
    value: &T,
) -> Result<(), S::Error> {
    s.serialize_field(key, value)
}

/// Serializes a workflow's single input, bounded by `Workflow::Input` (reported at the impl of
/// `Workflow`).
pub fn ser_input<W: crate::Workflow, S: SerializeStructVariant>(
    s: &mut S,
    key: &'static str,
    value: &W::Input,
) -> Result<(), S::Error> {
    s.serialize_field(key, value)
}

/// An error for a variant index the generated code does not know (checked before, so never
/// seen).
pub fn no_such_variant<E: de::Error>(index: u32) -> E {
    E::custom(format!("no state with index {index}"))
}

/// The variant index of `state`, a value of an enum (`None` for anything else): what its
/// `Serialize` impl hands to the serializer first, found without encoding anything else (every
/// serializer call answers at once, with the index or with nothing).
pub(crate) fn variant_index<S: Serialize + ?Sized>(state: &S) -> Option<u32> {
    match state.serialize(VariantProbe) {
        Err(Probed(index)) => index,
        Ok(()) => None,
    }
}

/// The "error" [`VariantProbe`] stops with: the variant index, if the value is an enum's.
#[derive(Debug)]
struct Probed(Option<u32>);

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probed the variant")
    }
}

impl std::error::Error for Probed {}

impl serde::ser::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed(None)
    }
}

/// A serializer that stops at its first call (see [`variant_index`]).
struct VariantProbe;

/// What every serializer call of a value that is not an enum gives.
macro_rules! not_a_variant {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ok, Probed> {
            Err(Probed(None))
        })*
    };
}

impl serde::Serializer for VariantProbe {
    type Ok = ();
    type Error = Probed;
    type SerializeSeq = serde::ser::Impossible<(), Probed>;
    type SerializeTuple = serde::ser::Impossible<(), Probed>;
    type SerializeTupleStruct = serde::ser::Impossible<(), Probed>;
    type SerializeTupleVariant = serde::ser::Impossible<(), Probed>;
    type SerializeMap = serde::ser::Impossible<(), Probed>;
    type SerializeStruct = serde::ser::Impossible<(), Probed>;
    type SerializeStructVariant = serde::ser::Impossible<(), Probed>;

    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), Probed> {
        Err(Probed(Some(index)))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Probed> {
        Err(Probed(Some(index)))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Probed> {
        Err(Probed(Some(index)))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Probed> {
        Err(Probed(Some(index)))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Probed> {
        Err(Probed(None))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Probed> {
        Err(Probed(None))
    }

    not_a_variant! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_i128(i128) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_u128(u128) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
    }
}

#[cfg(test)]
mod tests {
    use super::variant_index;

    #[derive(serde::Serialize)]
    enum State {
        Start,
        Await1 { n: u64, s: String },
        Await2(u8),
        Await3(u8, u8),
    }

    #[derive(serde::Serialize)]
    struct NotAnEnum {
        n: u64,
    }

    #[test]
    fn the_variant_index_of_each_kind_of_variant() {
        assert_eq!(variant_index(&State::Start), Some(0));
        let s = "x".repeat(1000);
        assert_eq!(variant_index(&State::Await1 { n: 1, s }), Some(1));
        assert_eq!(variant_index(&State::Await2(7)), Some(2));
        assert_eq!(variant_index(&State::Await3(1, 2)), Some(3));
        assert_eq!(variant_index(&NotAnEnum { n: 1 }), None);
        assert_eq!(variant_index(&5u64), None);
        assert_eq!(variant_index(&Some(State::Start)), None);
    }
}
