//! The size of `#[workflow]`'s expansion must grow linearly with the number of awaits: for each
//! shape of `examples/compile_cost` (whose generator this includes), the pretty-printed lines of
//! the expansion at 10, 20 and 40 awaits may at most grow by `MAX_PER_DOUBLING` per doubling.
//! The build times are measured by `cargo run --release --example compile_cost`, not here.
//!
//! One shape cannot be linear: in `kept`, the `k`-th await has `k - 1` variables live, and the
//! persisted layout (one variant per await holding exactly the variables live there) holds
//! `n(n-1)/2` fields in all. For every shape the lines per unit of the layout (an await or a
//! saved field) must not grow (`MAX_PER_UNIT` per doubling); the raw limit applies to shapes
//! whose layout grows linearly.

use proc_macro2::TokenStream;

#[path = "../../examples/compile_cost/shapes.rs"]
mod shapes;

const SIZES: [usize; 3] = [10, 20, 40];
const MAX_PER_DOUBLING: f64 = 2.2;
const MAX_PER_UNIT: f64 = 1.15;

/// The pretty-printed lines of `#[workflow]`'s expansion of shape `shape` with `n` awaits, and
/// the size of its layout (awaits plus saved fields).
fn generated_lines(shape: &str, n: usize) -> (usize, usize) {
    let src = shapes::workflow_fn(shape, n).expect("a known shape");
    let item: TokenStream = src.parse().expect("the generated source parses");
    let out = crate::expand::workflow(TokenStream::new(), item);
    let text = out.to_string();
    assert!(
        !text.contains("compile_error"),
        "{shape} with {n} awaits does not expand:\n{text}"
    );
    let file: syn::File = syn::parse2(out).expect("the expansion parses");
    let pretty = prettyplease::unparse(&file);
    // Each saved field is documented once in the state enum.
    let fields = pretty.matches("The variable `").count();
    (pretty.lines().count(), n + fields)
}

#[test]
fn generated_lines_grow_linearly() {
    let mut report =
        String::from("shape     awaits  lines  per doubling  layout  lines/layout per doubling\n");
    let mut too_fast = Vec::new();
    for shape in shapes::SHAPES {
        let sizes: Vec<(usize, usize)> = SIZES.iter().map(|&n| generated_lines(shape, n)).collect();
        for (i, (&n, &(l, units))) in SIZES.iter().zip(&sizes).enumerate() {
            let per_doubling = |now: f64, before: f64| {
                let doublings = (n as f64 / SIZES[i - 1] as f64).log2();
                (now / before).powf(1.0 / doublings)
            };
            let (ratio, layout_ratio, unit_ratio) = if i == 0 {
                (None, None, None)
            } else {
                let (pl, pu) = sizes[i - 1];
                (
                    Some(per_doubling(l as f64, pl as f64)),
                    Some(per_doubling(units as f64, pu as f64)),
                    Some(per_doubling(l as f64 / units as f64, pl as f64 / pu as f64)),
                )
            };
            let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
            report.push_str(&format!(
                "{shape:<9} {n:>6} {l:>6}  {:>12}  {units:>6}  {:>25}\n",
                show(ratio),
                show(unit_ratio)
            ));
            let linear_layout = layout_ratio.is_some_and(|r| r <= MAX_PER_DOUBLING);
            if let Some(r) = ratio.filter(|&r| linear_layout && r > MAX_PER_DOUBLING) {
                too_fast.push(format!("{shape} {}->{n}: x{r:.2}", SIZES[i - 1]));
            }
            if let Some(r) = unit_ratio.filter(|&r| r > MAX_PER_UNIT) {
                too_fast.push(format!(
                    "{shape} {}->{n}: x{r:.2} per unit of layout",
                    SIZES[i - 1]
                ));
            }
        }
    }
    println!("{report}");
    assert!(
        too_fast.is_empty(),
        "the expansion grows faster than x{MAX_PER_DOUBLING} per doubling of the awaits: {}\n{report}",
        too_fast.join(", ")
    );
}
