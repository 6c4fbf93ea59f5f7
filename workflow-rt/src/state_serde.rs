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
