//! The persisted layout of a workflow as serde sees it, and the fingerprint derived from it.
//!
//! `#[workflow]` knows the states, their awaits and the saved variables, but not what is inside
//! the user's types: a proc macro sees `order: Order`, not `Order`'s fields. So the fingerprint
//! is completed at run time, once per workflow: the state enum, the output and every variable
//! saved without a written type (whose type only the compiler knows, recorded by a witness) are
//! traced: each type's `Deserialize` runs against a deserializer that records what it asks for
//! (`shape`), which collects the formats of all the named types reached, recursively. The
//! fingerprint hashes the text of those formats (not Rust type names, which are not stable
//! across compiler versions), with the states' names and await kinds, and without the names of
//! the saved variables: renaming a local, reformatting, or editing code between awaits keeps
//! it; adding, removing or retyping a field of a saved type, changing an enum's variants, or
//! pointing a type alias elsewhere changes it.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;
mod shape;

use shape::{Body, Container, Root, Tracer, root};

use crate::codec::{FNV_OFFSET, fnv1a_extend};
use crate::workflow::Workflow;

/// The persisted layout of one workflow version, as this build reads it: see
/// [`Workflow::layout`].
#[derive(Debug)]
pub struct Layout {
    /// The fingerprint: a hash of the states (their names and await kinds) and of the shape, as
    /// serde sees it, of every type saved in them, inputs and output included.
    pub fingerprint: u64,
    /// The fingerprint an earlier release of `#[workflow]` computed for the same code (from the
    /// saved variables' names and types as written). A run stored under it is read by this
    /// code too, and stored again under [`Layout::fingerprint`] at its next step.
    pub legacy_fingerprint: Option<u64>,
    /// The shapes the fingerprint hashes, as text: each state's saved variables with their
    /// formats, the output, then every named type reached. A change of layout shows here
    /// (the layout lock, `testing::check_layouts`, prints the difference).
    pub shapes: String,
    inferred: Vec<InferredField>,
}

#[derive(Debug)]
struct InferredField {
    /// The index of the state (the variant) that saves it.
    state: u32,
    name: &'static str,
    json: JsonFn,
}

type JsonFn = fn(&[u8]) -> Result<serde_json::Value, String>;

impl Layout {
    /// A layout known only by its fingerprint, for hand-written [`Workflow`] impls:
    /// `fn layout() -> &'static Layout { static L: Layout = Layout::fixed(1); &L }`.
    pub const fn fixed(fingerprint: u64) -> Layout {
        Layout {
            fingerprint,
            legacy_fingerprint: None,
            shapes: String::new(),
            inferred: Vec::new(),
        }
    }

    /// Whether a run stored under `fingerprint` is read by this code: it is this layout's
    /// fingerprint or its [`Layout::legacy_fingerprint`].
    pub fn accepts(&self, fingerprint: u64) -> bool {
        fingerprint == self.fingerprint || self.legacy_fingerprint == Some(fingerprint)
    }

    /// Replaces, in the JSON form of a state, the bytes of each variable saved without a
    /// written type with its value as JSON (decoded with the type the compiler inferred).
    pub(crate) fn show_inferred(&self, states: &[&str], json: &mut serde_json::Value) {
        let serde_json::Value::Object(outer) = json else {
            return;
        };
        for f in &self.inferred {
            let Some(state) = states.get(f.state as usize) else {
                continue;
            };
            let Some(serde_json::Value::Object(fields)) = outer.get_mut(*state) else {
                continue;
            };
            let Some(value) = fields.get_mut(f.name) else {
                continue;
            };
            let Some(bytes) = as_bytes(value) else {
                continue;
            };
            let json = f.json;
            *value = match catch_unwind(AssertUnwindSafe(|| json(&bytes))) {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => serde_json::Value::String(format!("<not decodable: {e}>")),
                Err(_) => serde_json::Value::String("<not decodable: its decoder panicked>".into()),
            };
        }
    }
}

fn as_bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    v.as_array()?
        .iter()
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect()
}

/// What the step function of a workflow reports when it is called to probe its layout: the
/// variables it saves without a written type, with the types the compiler inferred for them.
#[doc(hidden)]
#[derive(Default, Debug)]
pub struct Probe {
    fields: Vec<ProbedField>,
}

#[derive(Debug)]
struct ProbedField {
    state: u32,
    name: &'static str,
    trace: Root,
    json: JsonFn,
}

impl Probe {
    /// Records variable `name` of state `state`, whose type is the one of the witness.
    pub fn field<T: Serialize + DeserializeOwned>(
        &mut self,
        _witness: &Option<PhantomData<T>>,
        state: u32,
        name: &'static str,
    ) {
        self.fields.push(ProbedField {
            state,
            name,
            trace: root::<T>,
            json: json_of::<T>,
        });
    }
}

fn json_of<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let value: T = crate::codec::decode_exact(bytes)?;
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// Computes the layout of `W`: `head` is the macro's text of the states (names and await
/// kinds), `legacy` the fingerprint earlier releases computed, `written` the saved variables'
/// types as written (hashed instead of the shapes if tracing fails), and `probe` calls the step
/// function in its probing mode.
#[doc(hidden)]
pub fn layout<W: Workflow>(
    head: &str,
    legacy: u64,
    written: &str,
    probe: fn(&mut Probe),
) -> Layout {
    // Only the two roots are generic: the rest is compiled once, not once per workflow.
    layout_of(
        head,
        legacy,
        written,
        probe,
        [root::<W::State>, root::<W::Output>],
    )
}

fn layout_of(
    head: &str,
    legacy: u64,
    written: &str,
    probe: fn(&mut Probe),
    roots: [Root; 2],
) -> Layout {
    // Referenced, so that the common roots are compiled into this crate.
    std::hint::black_box(COMMON_ROOTS);
    let mut p = Probe::default();
    // The probing mode returns before any of the user's code runs.
    let probed = catch_unwind(AssertUnwindSafe(|| probe(&mut p))).is_ok();
    let traced = if probed {
        catch_unwind(AssertUnwindSafe(|| shapes(roots, &p)))
            .unwrap_or_else(|_| Err("a `Deserialize` impl panicked while traced".into()))
    } else {
        Err("probing the step function panicked".into())
    };
    let (hashed, shown) = match traced {
        Ok(t) => t,
        Err(e) => {
            let text = format!("  not traced ({e}); the types as written:\n{written}");
            (text.clone(), text)
        }
    };
    let mut h = fnv1a_extend(FNV_OFFSET, head.as_bytes());
    h = fnv1a_extend(h, hashed.as_bytes());
    Layout {
        fingerprint: h,
        legacy_fingerprint: Some(legacy),
        shapes: shown,
        inferred: p
            .fields
            .iter()
            .map(|f| InferredField {
                state: f.state,
                name: f.name,
                json: f.json,
            })
            .collect(),
    }
}

/// The text hashed (without the saved variables' names) and the text shown (with them).
fn shapes(roots: [Root; 2], p: &Probe) -> Result<(String, String), String> {
    let mut roots: Vec<Root> = roots.to_vec();
    roots.extend(p.fields.iter().map(|f| f.trace));
    let mut tracer = Tracer::default();
    let formats = tracer.trace(&roots).map_err(|e| e.to_string())?;
    let mut containers = tracer.containers;
    let Some(Container::Enum(variants)) = containers.remove(&formats[0]) else {
        return Err(format!("the state traced as `{}`, not an enum", formats[0]));
    };
    let (mut hashed, mut shown) = (String::new(), String::new());
    for (index, (name, body)) in variants.iter().enumerate() {
        hashed.push_str(&format!("  [{index}] {name}\n"));
        shown.push_str(&format!("  [{index}] {name}\n"));
        let fields: &[(&str, String)] = match body {
            Some(Body::Struct(fields)) => fields,
            Some(Body::Unit) => &[],
            other => return Err(format!("state `{name}` traced as {other:?}")),
        };
        for (field, format) in fields {
            let format = p
                .fields
                .iter()
                .zip(&formats[2..])
                .find(|(f, _)| f.state as usize == index && f.name == *field)
                .map(|(_, f)| f)
                .unwrap_or(format);
            hashed.push_str(&format!("    {format}\n"));
            shown.push_str(&format!("    {}: {format}\n", display_name(field)));
        }
    }
    let out = format!("  output: {}\n", formats[1]);
    hashed.push_str(&out);
    shown.push_str(&out);
    for (name, container) in &containers {
        let line = format!("  {name}: {container}\n");
        hashed.push_str(&line);
        shown.push_str(&line);
    }
    Ok((hashed, shown))
}

/// A saved variable's name as the user wrote it: without the `_wf1` the lowering appends to
/// an inner binding that shadows an outer one.
fn display_name(field: &str) -> &str {
    match field.rsplit_once("_wf") {
        Some((base, n))
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => field,
    }
}

/// The roots of types many workflows save, traced here once: in dev builds, where generic
/// code instantiated by a dependency is shared with the crates that use it, a workflow that
/// saves them reuses these instead of compiling its own.
static COMMON_ROOTS: &[Root] = &[
    root::<crate::WorkflowError>,
    root::<Result<(), crate::WorkflowError>>,
    root::<Result<u64, crate::WorkflowError>>,
    root::<Result<String, crate::WorkflowError>>,
    root::<crate::ActivityError>,
    root::<String>,
    root::<u64>,
    root::<u32>,
    root::<i64>,
    root::<bool>,
    root::<Vec<u8>>,
    root::<Vec<u64>>,
    root::<Vec<String>>,
    root::<Option<String>>,
    root::<Option<u64>>,
    root::<std::time::Duration>,
];
