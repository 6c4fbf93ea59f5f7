//! A deserializer that records the shape of a type as serde sees it, without a value.
//!
//! Each pass deserializes every root once, answering each request with a placeholder value
//! (`1` for numbers, `""` for strings, one element for a sequence or a map, `Some` for an
//! option) and recording the format asked for. An enum gives one variant per meeting, so the
//! passes repeat: at each meeting the tracer picks a variant not explored yet, or one under
//! which an enum not fully explored was met, until a pass learns nothing new. Recursion ends
//! because a container met again inside itself gets empty sequences, maps and options, and a
//! variant that does not lead back to it.
//!
//! The formats are text (`U64`, `Str`, `Option<Str>`, `Seq<Order>`, `Map<Str, U32>`,
//! `(U8, Bool)`, a named type by its name), and each named type (struct or enum, by the name
//! serde gives it, without module path) is recorded once with its fields or variants.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

/// The recorded shape of a named type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Container {
    Unit,
    NewType(String),
    Tuple(Vec<String>),
    Struct(Vec<(&'static str, String)>),
    /// Per variant: its name and body, once seen.
    Enum(Vec<(&'static str, Option<Body>)>),
}

/// The body of an enum's variant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Unit,
    NewType(String),
    Tuple(Vec<String>),
    Struct(Vec<(&'static str, String)>),
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Unit => Ok(()),
            Body::NewType(t) => write!(f, "({t})"),
            Body::Tuple(ts) => write!(f, "({})", ts.join(", ")),
            Body::Struct(fs) => write!(f, " {{ {} }}", named(fs)),
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Container::Unit => write!(f, "struct"),
            Container::NewType(t) => write!(f, "struct({t})"),
            Container::Tuple(ts) => write!(f, "struct({})", ts.join(", ")),
            Container::Struct(fs) => write!(f, "struct {{ {} }}", named(fs)),
            Container::Enum(vs) => {
                let vs: Vec<String> = vs
                    .iter()
                    .enumerate()
                    .map(|(i, (n, body))| match body {
                        Some(b) => format!("{i}:{n}{b}"),
                        None => format!("{i}:{n}?"),
                    })
                    .collect();
                write!(f, "enum {{ {} }}", vs.join(", "))
            }
        }
    }
}

fn named(fs: &[(&'static str, String)]) -> String {
    fs.iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknowns(s: &str) -> usize {
    s.matches('?').count()
}

/// What the tracer knows about one enum.
#[derive(Debug, Default)]
struct EnumSeen {
    explored: Vec<bool>,
    /// The named types met under each variant.
    below: Vec<BTreeSet<String>>,
}

/// The state of a tracing.
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    /// By key: the name serde gives the type, with `#2`, `#3`.. after it for other types of
    /// the same name (two instances of one generic type, or two types of one name in two
    /// modules), numbered in the order they are met.
    pub(crate) containers: BTreeMap<String, Container>,
    /// The key of each type met, by its Rust type name (used only to tell apart types serde
    /// names alike; never part of the shapes).
    keys: BTreeMap<&'static str, String>,
    named: BTreeMap<&'static str, usize>,
    enums: BTreeMap<String, EnumSeen>,
    /// The named types being deserialized, outermost first, with the variant taken for an
    /// enum.
    stack: Vec<(String, Option<usize>)>,
    /// Whether this pass learned something.
    progress: bool,
}

/// The error of a tracing: a type whose `Deserialize` refused the placeholder values, or asked
/// for what a non-self-describing format cannot give.
#[derive(Debug)]
pub(crate) struct TraceError(pub(crate) String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

/// The passes after which a tracing that still learns something is given up.
const MAX_PASSES: usize = 10_000;

/// A root to trace: deserializes one `T` from the tracer and returns its format.
pub(crate) type Root = fn(&mut Tracer) -> Result<String, TraceError>;

pub(crate) fn root<T: de::DeserializeOwned>(t: &mut Tracer) -> Result<String, TraceError> {
    let mut out = String::new();
    T::deserialize(Tracing { t, out: &mut out })?;
    Ok(out)
}

impl Tracer {
    /// Traces `roots` until a pass learns nothing new: their formats, and the named types in
    /// [`Tracer::containers`].
    pub(crate) fn trace(&mut self, roots: &[Root]) -> Result<Vec<String>, TraceError> {
        let mut formats: Vec<String> = vec![String::new(); roots.len()];
        for _ in 0..MAX_PASSES {
            self.progress = false;
            for (root, best) in roots.iter().zip(formats.iter_mut()) {
                let f = root(self)?;
                if best.is_empty() || unknowns(&f) < unknowns(best) {
                    *best = f;
                }
            }
            if !self.progress {
                return Ok(formats);
            }
        }
        Err(TraceError("tracing the saved types did not end".into()))
    }

    fn recursing(&self, key: &str) -> bool {
        self.stack.iter().any(|(n, _)| n == key)
    }

    /// The key of the type named `name` by serde and `type_name` by Rust.
    fn key(&mut self, name: &'static str, type_name: &'static str) -> String {
        if let Some(k) = self.keys.get(type_name) {
            return k.clone();
        }
        let n = self.named.entry(name).or_insert(0);
        *n += 1;
        let k = if *n == 1 {
            name.to_string()
        } else {
            format!("{name}#{n}")
        };
        self.keys.insert(type_name, k.clone());
        k
    }

    /// Whether the current position is inside a named type met again inside itself: then
    /// sequences, maps and options are given empty.
    fn deep(&self) -> bool {
        let mut seen = BTreeSet::new();
        self.stack.iter().any(|(n, _)| !seen.insert(n.as_str()))
    }

    fn enter(&mut self, key: &str, variant: Option<usize>) {
        for (outer, v) in &self.stack {
            if let Some(v) = v
                && let Some(e) = self.enums.get_mut(outer)
                && e.below[*v].insert(key.to_string())
            {
                self.progress = true;
            }
        }
        self.stack.push((key.to_string(), variant));
    }

    fn leave(&mut self) {
        self.stack.pop();
    }

    fn record(&mut self, key: &str, c: Container) {
        match self.containers.get_mut(key) {
            None => {
                self.containers.insert(key.to_string(), c);
                self.progress = true;
            }
            Some(old) if *old == c => {}
            Some(old) => {
                let better = match (&*old, &c) {
                    (Container::Enum(a), Container::Enum(b)) if a.len() == b.len() => {
                        // Merge: each variant keeps its best-known body.
                        let merged: Vec<(&'static str, Option<Body>)> = a
                            .iter()
                            .zip(b)
                            .map(|((n, x), (_, y))| match (x, y) {
                                (Some(x), Some(y))
                                    if unknowns(&y.to_string()) < unknowns(&x.to_string()) =>
                                {
                                    (*n, Some(y.clone()))
                                }
                                (None, Some(y)) => (*n, Some(y.clone())),
                                (x, _) => (*n, x.clone()),
                            })
                            .collect();
                        Some(Container::Enum(merged))
                    }
                    _ => {
                        let (a, b) = (old.to_string(), c.to_string());
                        (unknowns(&b) < unknowns(&a)).then_some(c)
                    }
                };
                if let Some(better) = better
                    && better != *old
                {
                    *old = better;
                    self.progress = true;
                }
            }
        }
    }

    /// Picks the variant of enum `name` (of `count` variants) to give at this meeting.
    fn pick(&mut self, name: &str, count: usize) -> usize {
        let recursing = self.recursing(name);
        let e = self.enums.entry(name.to_string()).or_default();
        if e.explored.len() != count {
            e.explored = vec![false; count];
            e.below = vec![BTreeSet::new(); count];
        }
        if let Some(i) = e.explored.iter().position(|x| !x) {
            e.explored[i] = true;
            self.progress = true;
            return i;
        }
        let leads_back = |i: usize| self.enums[name].below[i].contains(name);
        let incomplete: BTreeSet<String> = self
            .enums
            .iter()
            .filter(|(_, e)| e.explored.iter().any(|x| !x))
            .map(|(n, _)| n.clone())
            .collect();
        let e = &self.enums[name];
        if !recursing && let Some(i) = (0..count).find(|i| !e.below[*i].is_disjoint(&incomplete)) {
            return i;
        }
        // A variant that does not lead back into this enum, the smallest below.
        (0..count)
            .filter(|i| !leads_back(*i))
            .min_by_key(|i| e.below[*i].len())
            .unwrap_or(0)
    }
}

struct Tracing<'a> {
    t: &'a mut Tracer,
    out: &'a mut String,
}

macro_rules! primitive {
    ($($method:ident => $visit:ident($($value:expr)?), $fmt:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
                *self.out = $fmt.to_string();
                visitor.$visit($($value)?)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Tracing<'_> {
    type Error = TraceError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError(
            "a type asks for a self-describing format (`deserialize_any`), which the state's \
             encoding is not"
                .into(),
        ))
    }

    primitive! {
        deserialize_bool => visit_bool(false), "Bool";
        deserialize_i8 => visit_i8(1), "I8";
        deserialize_i16 => visit_i16(1), "I16";
        deserialize_i32 => visit_i32(1), "I32";
        deserialize_i64 => visit_i64(1), "I64";
        deserialize_i128 => visit_i128(1), "I128";
        deserialize_u8 => visit_u8(1), "U8";
        deserialize_u16 => visit_u16(1), "U16";
        deserialize_u32 => visit_u32(1), "U32";
        deserialize_u64 => visit_u64(1), "U64";
        deserialize_u128 => visit_u128(1), "U128";
        deserialize_f32 => visit_f32(1.0), "F32";
        deserialize_f64 => visit_f64(1.0), "F64";
        deserialize_char => visit_char('a'), "Char";
        deserialize_str => visit_str(""), "Str";
        deserialize_string => visit_string(String::new()), "Str";
        deserialize_bytes => visit_bytes(&[]), "Bytes";
        deserialize_byte_buf => visit_byte_buf(Vec::new()), "Bytes";
        deserialize_unit => visit_unit(), "()";
        deserialize_identifier => visit_u32(0), "U32";
        deserialize_ignored_any => visit_unit(), "()";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        if self.t.deep() {
            *self.out = "Option<?>".into();
            return visitor.visit_none();
        }
        let mut inner = String::new();
        let v = visitor.visit_some(Tracing {
            t: self.t,
            out: &mut inner,
        })?;
        *self.out = format!("Option<{inner}>");
        Ok(v)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let key = self.t.key(name, std::any::type_name::<V::Value>());
        self.t.record(&key, Container::Unit);
        *self.out = key;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut inner = String::new();
        let key = self.t.key(name, std::any::type_name::<V::Value>());
        self.t.enter(&key, None);
        let v = visitor.visit_newtype_struct(Tracing {
            t: self.t,
            out: &mut inner,
        });
        self.t.leave();
        let v = v?;
        self.t.record(&key, Container::NewType(inner));
        *self.out = key;
        Ok(v)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let n = usize::from(!self.t.deep());
        let mut formats = Vec::new();
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: n,
            formats: &mut formats,
        })?;
        *self.out = format!(
            "Seq<{}>",
            formats.first().map(String::as_str).unwrap_or("?")
        );
        Ok(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut formats = Vec::new();
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: len,
            formats: &mut formats,
        })?;
        *self.out = if formats.len() > 1 && formats.iter().all(|f| *f == formats[0]) {
            format!("[{}; {}]", formats[0], formats.len())
        } else {
            format!("({})", formats.join(", "))
        };
        Ok(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut formats = Vec::new();
        let key = self.t.key(name, std::any::type_name::<V::Value>());
        self.t.enter(&key, None);
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: len,
            formats: &mut formats,
        });
        self.t.leave();
        let v = v?;
        self.t.record(&key, Container::Tuple(formats));
        *self.out = key;
        Ok(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let n = usize::from(!self.t.deep());
        let mut formats = Vec::new();
        let v = visitor.visit_map(Entries {
            t: self.t,
            left: n,
            formats: &mut formats,
        })?;
        *self.out = match formats.as_slice() {
            [k, v, ..] => format!("Map<{k}, {v}>"),
            _ => "Map<?, ?>".into(),
        };
        Ok(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut formats = Vec::new();
        let key = self.t.key(name, std::any::type_name::<V::Value>());
        self.t.enter(&key, None);
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: fields.len(),
            formats: &mut formats,
        });
        self.t.leave();
        let v = v?;
        let fs = fields.iter().copied().zip(formats).collect();
        self.t.record(&key, Container::Struct(fs));
        *self.out = key;
        Ok(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        if variants.is_empty() {
            return Err(TraceError(format!("enum `{name}` has no variant")));
        }
        let key = self.t.key(name, std::any::type_name::<V::Value>());
        let index = self.t.pick(&key, variants.len());
        let mut body = Body::Unit;
        self.t.enter(&key, Some(index));
        let v = visitor.visit_enum(Variant {
            t: self.t,
            index,
            body: &mut body,
        });
        self.t.leave();
        let v = v?;
        let mut known: Vec<(&'static str, Option<Body>)> = match self.t.containers.get(&key) {
            Some(Container::Enum(vs)) if vs.len() == variants.len() => vs.clone(),
            _ => variants.iter().map(|n| (*n, None)).collect(),
        };
        known[index].1 = Some(body);
        self.t.record(&key, Container::Enum(known));
        *self.out = key;
        Ok(v)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

struct Elements<'a> {
    t: &'a mut Tracer,
    left: usize,
    formats: &'a mut Vec<String>,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut out = String::new();
        let v = seed.deserialize(Tracing {
            t: self.t,
            out: &mut out,
        })?;
        self.formats.push(out);
        Ok(Some(v))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

struct Entries<'a> {
    t: &'a mut Tracer,
    left: usize,
    formats: &'a mut Vec<String>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut out = String::new();
        let k = seed.deserialize(Tracing {
            t: self.t,
            out: &mut out,
        })?;
        self.formats.push(out);
        Ok(Some(k))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        let mut out = String::new();
        let v = seed.deserialize(Tracing {
            t: self.t,
            out: &mut out,
        })?;
        self.formats.push(out);
        Ok(v)
    }
}

struct Variant<'a> {
    t: &'a mut Tracer,
    index: usize,
    body: &'a mut Body,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = TraceError;
    type Variant = Variant<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), TraceError> {
        let index =
            u32::try_from(self.index).map_err(|_| TraceError("too many variants".into()))?;
        let d: de::value::U32Deserializer<TraceError> = index.into_deserializer();
        let v = seed.deserialize(d)?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        *self.body = Body::Unit;
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        let mut out = String::new();
        let v = seed.deserialize(Tracing {
            t: self.t,
            out: &mut out,
        })?;
        *self.body = Body::NewType(out);
        Ok(v)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut formats = Vec::new();
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: len,
            formats: &mut formats,
        })?;
        *self.body = Body::Tuple(formats);
        Ok(v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let mut formats = Vec::new();
        let v = visitor.visit_seq(Elements {
            t: self.t,
            left: fields.len(),
            formats: &mut formats,
        })?;
        *self.body = Body::Struct(fields.iter().copied().zip(formats).collect());
        Ok(v)
    }
}
