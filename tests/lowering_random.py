#!/usr/bin/env python3
"""Generates tests/lowering_random.rs: random workflow bodies (nested and labeled loops, `break`
and `continue`, matches with guards, deferred initialization, shadowing, borrowed loops, awaits in
conditions, operands and arms), each compiled twice by `twin!`: as a `#[workflow]` and as a plain
`async fn` on a context whose operations are ready at once. The plain function is the oracle: the
workflow, run straight and restored at every await, must return what it returns.

    python3 tests/lowering_random.py > tests/lowering_random.rs
    rustfmt --edition 2024 tests/lowering_random.rs

The programs are a function of SEED and COUNT only (environment variables of the same names
override them, to explore other programs without committing them); every loop is bounded (a range or a guard
counter incremented first thing in the body), so every program ends.
"""

import os
import random
import sys

SEED = int(os.environ.get("SEED", "20261122"))
COUNT = int(os.environ.get("COUNT", "40"))
INPUTS = [0, 1, 2, 3, 7, 10]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.n = 0
        self.awaits = 0
        self.max_awaits = rng.randint(4, 12)

    def fresh(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    # -- expressions -------------------------------------------------------------------------

    def expr(self, env, depth=0):
        r = self.r
        atoms = [v for v, _ in env["vals"]] + [str(r.randint(0, 9))] + ["log.len() as u64"]
        if depth > 1 or r.random() < 0.5:
            return r.choice(atoms)
        op = r.choice(["+", "+", "*"])
        a, b = self.expr(env, depth + 1), self.expr(env, depth + 1)
        if op == "*":
            return f"({a} * 3 + {b}) % 97"
        return f"({a} + {b}) % 1000"

    def cond(self, env):
        r = self.r
        e = self.expr(env)
        return r.choice([f"{e} % 2 == 0", f"{e} > {r.randint(0, 20)}", f"log.len() < {r.randint(1, 8)}"])

    def await_expr(self, env):
        self.awaits += 1
        e = self.expr(env)
        return f"ctx.activity(double, {e}).await?"

    def can_await(self):
        return self.awaits < self.max_awaits

    # -- statements --------------------------------------------------------------------------

    def block(self, env, depth, size=None):
        env = {"vals": list(env["vals"]), "muts": list(env["muts"]), "loops": env["loops"],
               "blocks": env["blocks"], "in_loop": env["in_loop"]}
        out = []
        for _ in range(size if size is not None else self.r.randint(1, 4)):
            out.extend(self.stmt(env, depth))
        return out

    def stmt(self, env, depth):
        r = self.r
        kinds = ["push", "push", "assign_await", "let_await", "sleep", "let_plain", "expr_await"]
        if depth < 3:
            kinds += ["if", "if", "match", "match_await", "for", "while", "loop", "block",
                      "labeled_block", "deferred", "queue", "borrowed", "if_await", "while_await",
                      "match_scrutinee", "if_value", "match_value", "loop_value", "if_let",
                      "let_else", "select"]
        kinds += ["join", "try_fail", "tuple"]
        if env["in_loop"]:
            kinds += ["break", "continue"]
        if env["blocks"]:
            kinds += ["break_block"]
        kinds += ["return"]
        if not self.can_await():
            kinds = [k for k in kinds if "await" not in k and k not in AWAITING]
        k = r.choice(kinds)
        ind = "    " * (depth + 1)
        if k == "push":
            return [f"{ind}log.push({self.expr(env)});"]
        if k == "assign_await":
            if not env["muts"]:
                return [f"{ind}log.push({self.expr(env)});"]
            v = r.choice(env["muts"])
            return [f"{ind}{v} = {self.await_expr(env)};"]
        if k == "let_await":
            v = r.choice([self.fresh("t"), "a"])  # "a" shadows the outer `a`
            line = f"{ind}let mut {v} = {self.await_expr(env)};"
            env["vals"].append((v, True))
            env["muts"].append(v)
            return [line]
        if k == "let_plain":
            v = self.fresh("p")
            line = f"{ind}let {v}: u64 = {self.expr(env)};"
            env["vals"].append((v, False))
            return [line]
        if k == "sleep":
            self.awaits += 1
            return [f"{ind}ctx.sleep(Duration::from_secs({self.expr(env)} % 3)).await;"]
        if k == "expr_await":
            return [f"{ind}log.push({self.expr(env)} + {self.await_expr(env)});"]
        if k == "if":
            lines = [f"{ind}if {self.cond(env)} {{"] + self.block(env, depth + 1)
            if r.random() < 0.6:
                lines += [f"{ind}}} else {{"] + self.block(env, depth + 1)
            return lines + [f"{ind}}}"]
        if k == "match":
            lines = [f"{ind}match {self.expr(env)} % 3 {{", f"{ind}    0 => {{"]
            lines += self.block(env, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    1 if {self.cond(env)} => {{"]
            lines += self.block(env, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    _ => {{"]
            lines += self.block(env, depth + 2)
            return lines + [f"{ind}    }}", f"{ind}}}"]
        if k == "match_await":
            if not self.can_await():
                return []
            self.awaits += 1
            v = self.fresh("v")
            lines = [f"{ind}match ctx.activity(fail_if_odd, {self.expr(env)}).await {{",
                     f"{ind}    Ok({v}) => {{"]
            inner = dict(env, vals=env["vals"] + [(v, False)])
            lines += self.block(inner, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    Err(_) => {{"]
            lines += self.block(env, depth + 2)
            return lines + [f"{ind}    }}", f"{ind}}}"]
        if k in ("for", "while", "loop"):
            label = self.fresh("'l") if r.random() < 0.5 else None
            lab = f"{label}: " if label else ""
            inner = dict(env, loops=env["loops"] + [label], in_loop=True)
            if k == "for":
                i = self.fresh("i")
                inner["vals"] = env["vals"] + [(i, False)]
                lines = [f"{ind}{lab}for {i} in 0..{r.randint(1, 3)}u64 {{"]
                return lines + self.block(inner, depth + 1) + [f"{ind}}}"]
            g = self.fresh("g")
            lines = [f"{ind}let mut {g}: u64 = 0;"]
            if k == "while":
                lines += [f"{ind}{lab}while {g} < {r.randint(1, 3)} {{", f"{ind}    {g} += 1;"]
            else:
                lines += [f"{ind}{lab}loop {{", f"{ind}    {g} += 1;",
                          f"{ind}    if {g} > {r.randint(1, 3)} {{", f"{ind}        break;", f"{ind}    }}"]
            return lines + self.block(inner, depth + 1) + [f"{ind}}}"]
        if k == "break":
            targets = [l for l in env["loops"] if l] + [None]
            t = r.choice(targets)
            return [f"{ind}if {self.cond(env)} {{", f"{ind}    break{' ' + t if t else ''};", f"{ind}}}"]
        if k == "continue":
            targets = [l for l in env["loops"] if l] + [None]
            t = r.choice(targets)
            return [f"{ind}if {self.cond(env)} {{", f"{ind}    continue{' ' + t if t else ''};", f"{ind}}}"]
        if k == "return":
            return [f"{ind}if {self.cond(env)} && log.len() > {r.randint(3, 9)} {{", f"{ind}    return Ok(log);", f"{ind}}}"]
        if k == "block":
            return [f"{ind}{{"] + self.block(env, depth + 1) + [f"{ind}}}"]
        if k == "labeled_block":
            b = self.fresh("'b")
            v = self.fresh("bv")
            inner = dict(env, blocks=env["blocks"] + [b], in_loop=False, loops=[])
            lines = [f"{ind}let {v}: u64 = {b}: {{"] + self.block(inner, depth + 1)
            lines += [f"{ind}    {self.expr(env)}", f"{ind}}};", f"{ind}log.push({v});"]
            env["vals"].append((v, False))
            return lines
        if k == "break_block":
            b = r.choice(env["blocks"])
            return [f"{ind}if {self.cond(env)} {{", f"{ind}    break {b} {self.expr(env)};", f"{ind}}}"]
        if k == "deferred":
            d = self.fresh("d")
            lines = [f"{ind}let {d}: u64;", f"{ind}if {self.cond(env)} {{",
                     f"{ind}    {d} = {self.await_expr(env)};", f"{ind}}} else {{",
                     f"{ind}    {d} = {self.expr(env)};", f"{ind}}}", f"{ind}log.push({d});"]
            env["vals"].append((d, False))
            return lines
        if k == "queue":
            q = self.fresh("q")
            z = self.fresh("z")
            inner = dict(env, vals=env["vals"] + [(z, False)], loops=env["loops"] + [None], in_loop=True)
            lines = [f"{ind}let mut {q}: Vec<u64> = vec![{self.expr(env)}, {self.expr(env)}];",
                     f"{ind}while let Some({z}) = {q}.pop() {{"]
            return lines + self.block(inner, depth + 1) + [f"{ind}}}"]
        if k == "borrowed":
            s = self.fresh("s")
            z = self.fresh("z")
            zz = self.fresh("zz")
            inner = dict(env, vals=env["vals"] + [(zz, False)], loops=env["loops"] + [None], in_loop=True)
            lines = [f"{ind}let {s}: Vec<u64> = log.iter().take(3).copied().collect();",
                     f"{ind}for {z} in &{s} {{", f"{ind}    let {zz}: u64 = *{z};"]
            return lines + self.block(inner, depth + 1) + [f"{ind}}}"]
        if k == "if_await":
            lines = [f"{ind}if {self.await_expr(env)} % 3 == {r.randint(0, 2)} {{"] + self.block(env, depth + 1)
            if r.random() < 0.5:
                lines += [f"{ind}}} else if {self.await_expr(env)} > {r.randint(0, 500)} {{"] + self.block(env, depth + 1)
            return lines + [f"{ind}}}"]
        if k == "while_await":
            g = self.fresh("g")
            label = self.fresh("'l") if r.random() < 0.5 else None
            lab = f"{label}: " if label else ""
            inner = dict(env, loops=env["loops"] + [label], in_loop=True)
            self.awaits += 1
            lines = [f"{ind}let mut {g}: u64 = 0;",
                     f"{ind}{lab}while {g} < {r.randint(1, 3)} && ctx.activity(double, {self.expr(env)} + {g}).await? % 5 != {r.randint(0, 4)} {{",
                     f"{ind}    {g} += 1;"]
            return lines + self.block(inner, depth + 1) + [f"{ind}}}"]
        if k == "match_scrutinee":
            n = self.fresh("n")
            inner = dict(env, vals=env["vals"] + [(n, False)])
            lines = [f"{ind}match {self.await_expr(env)} % 4 {{", f"{ind}    0 => {{"]
            lines += self.block(env, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    {n} if {n} > {r.randint(0, 3)} => {{"]
            lines += self.block(inner, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    _ => {{}}", f"{ind}}}"]
            return lines
        if k == "if_value":
            v = self.fresh("iv")
            line = [f"{ind}let {v}: u64 = if {self.cond(env)} {{",
                    f"{ind}    {self.await_expr(env)}", f"{ind}}} else {{", f"{ind}    {self.expr(env)}", f"{ind}}};",
                    f"{ind}log.push({v});"]
            env["vals"].append((v, False))
            return line
        if k == "match_value":
            v = self.fresh("mv")
            line = [f"{ind}let {v} = match {self.expr(env)} % 2 {{",
                    f"{ind}    0 => {self.await_expr(env)},", f"{ind}    _ => ctx.activity(double, {self.expr(env)}).await? + 1,",
                    f"{ind}}};", f"{ind}log.push({v});"]
            self.awaits += 1
            env["vals"].append((v, False))
            return line
        if k == "loop_value":
            v = self.fresh("lv")
            g = self.fresh("g")
            inner = dict(env, loops=[], in_loop=False, blocks=[])
            lines = [f"{ind}let mut {g}: u64 = 0;", f"{ind}let {v}: u64 = loop {{", f"{ind}    {g} += 1;",
                     f"{ind}    if {g} > {r.randint(1, 3)} {{", f"{ind}        break {self.expr(env)};", f"{ind}    }}",
                     f"{ind}    if {self.cond(env)} {{", f"{ind}        break {self.await_expr(env)};", f"{ind}    }}"]
            lines += self.block(inner, depth + 1)
            lines += [f"{ind}}};", f"{ind}log.push({v});"]
            env["vals"].append((v, False))
            return lines
        if k == "if_let":
            self.awaits += 1
            v = r.choice([self.fresh("o"), "b"])  # `b` shadows the outer `b` in the branch
            inner = dict(env, vals=env["vals"] + [(v, False)], muts=[m for m in env["muts"] if m != v])
            lines = [f"{ind}if let Some({v}) = ctx.activity(maybe, {self.expr(env)}).await? {{"]
            lines += self.block(inner, depth + 1)
            if r.random() < 0.5:
                lines += [f"{ind}}} else {{"] + self.block(env, depth + 1)
            return lines + [f"{ind}}}"]
        if k == "let_else":
            self.awaits += 1
            v = self.fresh("e")
            lines = [f"{ind}let Some({v}) = ctx.activity(maybe, {self.expr(env)}).await? else {{"]
            lines += self.block(dict(env, loops=env["loops"], in_loop=env["in_loop"]), depth + 1, size=1)
            lines += [f"{ind}    return Ok(log);", f"{ind}}};", f"{ind}log.push({v});"]
            env["vals"].append((v, False))
            return lines
        if k == "select":
            self.awaits += 1
            lines = [f"{ind}match ctx.select((ctx.sleep(Duration::from_secs({self.expr(env)} % 3)), ctx.sleep(Duration::from_secs({self.expr(env)} % 3)))).await {{",
                     f"{ind}    Select2::First(()) => {{"]
            lines += self.block(env, depth + 2)
            lines += [f"{ind}    }}", f"{ind}    Select2::Second(()) => {{"]
            lines += self.block(env, depth + 2)
            return lines + [f"{ind}    }}", f"{ind}}}"]
        if k == "join":
            if not self.can_await():
                return []
            self.awaits += 1
            j1, j2 = self.fresh("j"), self.fresh("j")
            return [f"{ind}let ({j1}, {j2}) = ctx.join((ctx.activity(double, {self.expr(env)}), ctx.activity(double, {self.expr(env)}))).await;",
                    f"{ind}log.push({j1}? + {j2}?);"]
        if k == "try_fail":
            if not self.can_await():
                return []
            self.awaits += 1
            return [f"{ind}if {self.cond(env)} {{",
                    f"{ind}    log.push(ctx.activity(fail_if_odd, {self.expr(env)}).await?);", f"{ind}}}"]
        if k == "tuple":
            if not self.can_await():
                return []
            self.awaits += 1
            p, q = self.fresh("tp"), self.fresh("tq")
            lines = [f"{ind}let ({p}, mut {q}) = ({self.expr(env)} as u64, ctx.activity(double, {self.expr(env)}).await?);",
                     f"{ind}{q} += {p};", f"{ind}log.push({q});"]
            env["vals"] += [(p, False), (q, True)]
            return lines
        raise AssertionError(k)


# Statement kinds that always await.
AWAITING = {"sleep", "deferred", "select", "if_value", "match_value", "loop_value", "if_let",
            "let_else", "join", "try_fail", "tuple"}


def program(rng, k):
    g = Gen(rng)
    env = {"vals": [("x", False), ("a", True), ("b", True)], "muts": ["a", "b"],
           "loops": [], "blocks": [], "in_loop": False}
    body = ["    let mut log: Vec<u64> = Vec::new();", "    let mut a: u64 = x;", "    let mut b: u64 = 1;"]
    body += g.block(env, 0, size=rng.randint(3, 6))
    body += ["    log.push(a + b);", "    Ok(log)"]
    return f"twin!(w{k}, p{k}, ctx, x, {{\n" + "\n".join(body) + "\n});\n"


HEADER = '''//! Random workflows, each compiled twice by `twin!`: as a `#[workflow]`, and as a plain `async fn`
//! whose context answers at once (the oracle). The workflow, run straight and with its state
//! dropped and restored at every await, must return exactly what the plain function returns.
//!
//! Generated by `python3 tests/lowering_random.py > tests/lowering_random.rs` and `rustfmt` (seed
//! {seed}, {count} programs); edit the generator, not this file. Bounded loops only: every
//! program ends.

use std::future::Future;
use std::pin::pin;
use std::task::{{Context, Poll, Waker}};
use std::time::Duration;

use workflow_rt::ActivityOk;
use workflow_rt::prelude::*;
use workflow_rt::testing::TestRun;

#[activity]
async fn double(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {{
    Ok(x * 2 % 1000)
}}

#[activity]
async fn fail_if_odd(_ctx: ActivityCtx, x: u64) -> Result<u64, ActivityError> {{
    if x % 2 == 1 {{
        Err(ActivityError::non_retryable("odd"))
    }} else {{
        Ok(x)
    }}
}}

#[activity]
async fn maybe(_ctx: ActivityCtx, x: u64) -> Result<Option<u64>, ActivityError> {{
    Ok((x % 3 == 1).then_some(x + 1))
}}

/// The plain twin's answers, written again rather than taken from the activities.
trait PlainAnswer: Activity<Input = u64> {{
    fn answer(x: u64) -> Result<ActivityOk<Self>, ActivityError>;
}}

impl PlainAnswer for double {{
    fn answer(x: u64) -> Result<u64, ActivityError> {{
        Ok(x * 2 % 1000)
    }}
}}

impl PlainAnswer for fail_if_odd {{
    fn answer(x: u64) -> Result<u64, ActivityError> {{
        if x % 2 == 1 {{
            // As the test driver reports an activity's final error: after one attempt.
            let mut e = ActivityError::non_retryable("odd");
            e.attempts = 1;
            Err(e)
        }} else {{
            Ok(x)
        }}
    }}
}}

impl PlainAnswer for maybe {{
    fn answer(x: u64) -> Result<Option<u64>, ActivityError> {{
        Ok((x % 3 == 1).then_some(x + 1))
    }}
}}

/// The plain twin's context: the same answers, at once, without the runtime. A sleep is ready
/// at once too, but keeps its duration, so that a `select` of two sleeps picks the one the test
/// driver's virtual clock fires first (the first written on a tie).
struct Plain;

struct PlainSleep(Duration);

impl std::future::IntoFuture for PlainSleep {{
    type Output = ();
    type IntoFuture = std::future::Ready<()>;
    fn into_future(self) -> Self::IntoFuture {{
        std::future::ready(())
    }}
}}

impl Plain {{
    fn activity<A: PlainAnswer>(
        &self,
        _activity: A,
        x: u64,
    ) -> std::future::Ready<Result<ActivityOk<A>, ActivityError>> {{
        std::future::ready(A::answer(x))
    }}

    fn sleep(&self, duration: Duration) -> PlainSleep {{
        PlainSleep(duration)
    }}

    fn select(&self, (a, b): (PlainSleep, PlainSleep)) -> std::future::Ready<Select2<(), ()>> {{
        std::future::ready(if a.0 <= b.0 {{
            Select2::First(())
        }} else {{
            Select2::Second(())
        }})
    }}

    fn join<A, B>(
        &self,
        (a, b): (std::future::Ready<A>, std::future::Ready<B>),
    ) -> std::future::Ready<(A, B)> {{
        std::future::ready((a.into_inner(), b.into_inner()))
    }}
}}

fn block_on<F: Future>(f: F) -> F::Output {{
    match pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {{
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the plain twin never waits"),
    }}
}}

macro_rules! twin {{
    ($wf:ident, $plain:ident, $ctx:ident, $x:ident, $body:block) => {{
        // Random programs bind values they never read: the same lints are allowed in both.
        #[workflow]
        #[allow(unused_mut, unused_variables, unused_assignments, unused_labels, unreachable_code, clippy::all)]
        async fn $wf($ctx: WorkflowCtx, $x: u64) -> Result<Vec<u64>, WorkflowError> $body

        #[allow(
            unused_mut,
            unused_variables,
            unused_assignments,
            unused_labels,
            unreachable_code,
            clippy::all
        )]
        async fn $plain($x: u64) -> Result<Vec<u64>, WorkflowError> {{
            let $ctx = Plain;
            $body
        }}
    }};
}}

/// Runs workflow `W` on every input, straight and restored at every await, against `plain`.
fn agree<W: Workflow<Input = u64, Output = Result<Vec<u64>, WorkflowError>>, F>(
    workflow: W,
    plain: impl Fn(u64) -> F,
) where
    F: Future<Output = Result<Vec<u64>, WorkflowError>>,
{{
    for x in {inputs} {{
        let want = block_on(plain(x));
        for snapshots in [false, true] {{
            let run = TestRun::new(workflow, "r", x)
                .with_activity(double)
                .with_activity(fail_if_odd)
                .with_activity(maybe)
                .snapshot_every_await(snapshots)
                .run()
                .unwrap_or_else(|e| panic!("{{}} on {{x}}: {{e}}", W::NAME));
            assert_eq!(run.output, want, "{{}} on {{x}}, snapshots: {{snapshots}}", W::NAME);
        }}
    }}
}}
'''


def main():
    rng = random.Random(SEED)
    out = [HEADER.format(seed=SEED, count=COUNT, inputs=INPUTS)]
    for k in range(COUNT):
        out.append(program(rng, k))
    for k in range(COUNT):
        out.append(f"#[test]\nfn random_{k}() {{\n    agree(w{k}, p{k});\n}}\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
