//! The transformer block as mathematics (issue #24): causal multi-head
//! self-attention and the GELU MLP in the pre-residual form of the paper's
//! transformer code (no layer norm, no biases), with its forward pass, its
//! vector–Jacobian and Jacobian–vector products in the block input, its
//! weight gradients and its crossbar read counts. The passes run on any
//! [`Projections`]: the block's own matrices (the digital reference) or a
//! packed crossbar (`super::packed`, the [`super::Block`] layer).
//!
//! For one sequence of T tokens x_t ∈ ℝᴺ (N = H·d, H heads of width d):
//!
//! ```text
//! q_t = Wq x_t,  k_t = Wk x_t,  v_t = Wv x_t                  (Wq, Wk, Wv, Wo: N × N)
//! s_tu = σ · q_tʰ·k_uʰ  (u ≤ t),  p_tu = softmax_u(s_tu)     per head h (σ: attn_scale)
//! a_t = Wo · concat_h Σ_{u≤t} p_tu v_uʰ
//! h_t = x_t + c · a_t                                         (c: branch_scale)
//! out_t = h_t + c · W2 GELU(W1 h_t)                           (W1: 4N × N, W2: N × 4N)
//! ```
//!
//! μPC takes σ = 1/d and c = 1/n_blocks; SP takes σ = 1/√d. GELU is
//! [`Activation::Gelu`] (tanh form). With the optional layer norm (off by
//! default, as in the paper's runs) the projections read the normalised
//! tokens instead (pre-norm, no learned gain or bias: [`super::layer_norm`]):
//! q_t = Wq LN(x_t) (likewise k, v) and the MLP reads W1 LN(h_t); the
//! residual streams x and h are not normalised.
//!
//! Layout: a batch of B sequences is a (T·N) × B matrix, one column a
//! sequence, token-major: entry (t·N + i, b) is unit i of token t, so head
//! h of token t is the contiguous rows t·N + h·d .. t·N + (h + 1)·d. The
//! same storage is the N × (T·B) matrix of all tokens (column b·T + t), so
//! each projection is one product over T·B columns: one crossbar read per
//! token per projection ([`ProjectionReads`]).

use super::layer_norm::{jacobian_apply, normalise};
pub use super::packed::{Proj, Projections};
use crate::net::Activation;
use crate::real::{gemm_abt, Real};
use nalgebra::DMatrix;

#[path = "attention_grad.rs"]
mod grad;
pub use grad::Backward;

/// A block's shape or weights are inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// What is wrong and what would be right.
    #[error("transformer block: {0}")]
    Shape(String),
}

/// The six matrices of a block (also the shape of its weight gradients).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockWeights<T: Real> {
    /// Query projection, N × N.
    pub wq: DMatrix<T>,
    /// Key projection, N × N.
    pub wk: DMatrix<T>,
    /// Value projection, N × N.
    pub wv: DMatrix<T>,
    /// Output projection, N × N.
    pub wo: DMatrix<T>,
    /// MLP input, 4N × N.
    pub w1: DMatrix<T>,
    /// MLP output, N × 4N.
    pub w2: DMatrix<T>,
}

impl<T: Real> BlockWeights<T> {
    /// All six matrices of width `n` filled by `f(matrix index 0..6, row,
    /// column)` in the order wq, wk, wv, wo, w1, w2.
    pub fn from_fn(n: usize, mut f: impl FnMut(usize, usize, usize) -> T) -> Self {
        let mut m = |k, r, c| DMatrix::from_fn(r, c, |i, j| f(k, i, j));
        BlockWeights {
            wq: m(0, n, n),
            wk: m(1, n, n),
            wv: m(2, n, n),
            wo: m(3, n, n),
            w1: m(4, 4 * n, n),
            w2: m(5, n, 4 * n),
        }
    }

    /// The six matrices in the order wq, wk, wv, wo, w1, w2.
    pub fn matrices(&self) -> [&DMatrix<T>; 6] {
        [&self.wq, &self.wk, &self.wv, &self.wo, &self.w1, &self.w2]
    }

    /// The six matrices, mutably, in the same order.
    pub fn matrices_mut(&mut self) -> [&mut DMatrix<T>; 6] {
        [
            &mut self.wq,
            &mut self.wk,
            &mut self.wv,
            &mut self.wo,
            &mut self.w1,
            &mut self.w2,
        ]
    }
}

/// Matrix–vector products (crossbar reads) per projection, counted in
/// columns: one per token per projection and direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectionReads {
    /// Reads of Wq (or Wqᵀ).
    pub q: usize,
    /// Reads of Wk.
    pub k: usize,
    /// Reads of Wv.
    pub v: usize,
    /// Reads of Wo.
    pub o: usize,
    /// Reads of W1.
    pub mlp_in: usize,
    /// Reads of W2.
    pub mlp_out: usize,
}

impl ProjectionReads {
    /// Sum over the six projections.
    pub fn total(&self) -> usize {
        self.q + self.k + self.v + self.o + self.mlp_in + self.mlp_out
    }
}

/// What the backward and forward-mode passes need from a forward pass over
/// B sequences (token matrices N × (T·B) or 4N × (T·B), column b·T + t).
#[derive(Clone, Debug)]
pub struct BlockCache<T: Real> {
    seq_len: usize,
    n_heads: usize,
    n_seq: usize,
    /// The tokens the Q, K, V projections read: x, or LN(x) with the layer norm.
    xn: DMatrix<T>,
    /// The layer norm's 1/√(var + ε) per token of x (empty without it).
    rx: Vec<T>,
    q: DMatrix<T>,
    k: DMatrix<T>,
    v: DMatrix<T>,
    /// Attention probabilities at ((b·H + h)·T + t)·T + u (0 for u > t).
    p: Vec<T>,
    /// The heads' outputs, concatenated (before Wo).
    c: DMatrix<T>,
    /// h = x + c·attn(x).
    h: DMatrix<T>,
    /// The tokens W1 reads: h, or LN(h) with the layer norm.
    hn: DMatrix<T>,
    /// The layer norm's 1/√(var + ε) per token of h (empty without it).
    rh: Vec<T>,
    /// GELU(W1 h) and GELU′(W1 h), 4N × (T·B).
    g: DMatrix<T>,
    dg: DMatrix<T>,
    /// Reads the forward pass made.
    pub reads: ProjectionReads,
}

impl<T: Real> BlockCache<T> {
    /// Number of sequences B.
    pub fn n_sequences(&self) -> usize {
        self.n_seq
    }

    /// Attention probabilities of sequence `b`, head `h`: T × T, row t (the
    /// query) over columns u ≤ t, zero above the diagonal. Panics when `b`
    /// or `h` is out of range.
    pub fn probabilities(&self, b: usize, h: usize) -> DMatrix<T> {
        assert!(
            b < self.n_seq && h < self.n_heads,
            "probabilities: out of range"
        );
        let t = self.seq_len;
        let o = (b * self.n_heads + h) * t * t;
        DMatrix::from_row_slice(t, t, &self.p[o..o + t * t])
    }

    /// The residual stream after attention, h = x + c·attn(x), (T·N) × B.
    pub fn after_attention(&self) -> DMatrix<T> {
        batch_of(&self.h, self.seq_len, self.n_seq)
    }
}

/// One transformer block: its weights, attention scale σ and branch scale c.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerBlock<T: Real> {
    weights: BlockWeights<T>,
    n: usize,
    n_heads: usize,
    seq_len: usize,
    attn_scale: T,
    branch_scale: T,
    layer_norm: bool,
}

/// The all-token matrix N × (T·B) of a (T·N) × B batch (same storage).
fn tokens_of<T: Real>(x: &DMatrix<T>, n: usize) -> DMatrix<T> {
    DMatrix::from_column_slice(n, x.len() / n.max(1), x.as_slice())
}

/// The (T·N) × B batch of an N × (T·B) token matrix (same storage).
fn batch_of<T: Real>(m: &DMatrix<T>, seq_len: usize, n_seq: usize) -> DMatrix<T> {
    DMatrix::from_column_slice(seq_len * m.nrows(), n_seq, m.as_slice())
}

/// `op(W_p)·x` through `w`, adding x's columns to `count`.
fn read<T: Real>(
    w: &dyn Projections<T>,
    p: Proj,
    transpose: bool,
    x: &DMatrix<T>,
    count: &mut usize,
) -> DMatrix<T> {
    *count += x.ncols();
    w.product(p, transpose, x)
}

fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::zero(), |s, (&x, &y)| s + x * y)
}

/// `o += a·x` over slices.
fn axpy<T: Real>(o: &mut [T], a: T, x: &[T]) {
    o.iter_mut().zip(x).for_each(|(o, &x)| *o += a * x);
}

/// `a + c·d` over matrices of one shape.
fn add<T: Real>(a: &DMatrix<T>, c: T, d: &DMatrix<T>) -> DMatrix<T> {
    let mut o = a.clone();
    o.iter_mut().zip(d.iter()).for_each(|(o, &d)| *o += c * d);
    o
}

impl<T: Real> TransformerBlock<T> {
    /// A block over sequences of `seq_len` tokens with `n_heads` heads.
    /// Errors: N = 0, `seq_len` = 0, H = 0 or not dividing N, a matrix of
    /// the wrong shape (N is wq's row count), σ or c not finite.
    pub fn new(
        weights: BlockWeights<T>,
        n_heads: usize,
        seq_len: usize,
        attn_scale: T,
        branch_scale: T,
    ) -> Result<Self, BlockError> {
        let n = weights.wq.nrows();
        let bad = |what: String| Err(BlockError::Shape(what));
        if n == 0 || seq_len == 0 {
            return bad(format!(
                "width {n} and seq_len {seq_len}; expected both ≥ 1"
            ));
        }
        if n_heads == 0 || !n.is_multiple_of(n_heads) {
            return bad(format!(
                "{n_heads} heads do not divide the width {n}; expected N = H·d_head"
            ));
        }
        let names = ["wq", "wk", "wv", "wo", "w1", "w2"];
        let want = [(n, n), (n, n), (n, n), (n, n), (4 * n, n), (n, 4 * n)];
        for ((m, name), want) in weights.matrices().iter().zip(names).zip(want) {
            if m.shape() != want {
                return bad(format!(
                    "{name} is {:?}; expected {want:?} for width {n}",
                    m.shape()
                ));
            }
        }
        if !attn_scale.is_finite() || !branch_scale.is_finite() {
            return bad(format!(
                "attn_scale {attn_scale} and branch_scale {branch_scale}; expected finite"
            ));
        }
        Ok(TransformerBlock {
            weights,
            n,
            n_heads,
            seq_len,
            attn_scale,
            branch_scale,
            layer_norm: false,
        })
    }

    /// The same block with the pre-norm layer norm on or off.
    pub fn with_layer_norm(self, on: bool) -> Self {
        TransformerBlock {
            layer_norm: on,
            ..self
        }
    }

    /// Whether the projections read layer-normalised tokens.
    pub fn layer_norm(&self) -> bool {
        self.layer_norm
    }

    /// The tokens a projection reads from the stream `x` (N × tokens), and
    /// the layer norm's factors (empty without it).
    fn normed(&self, x: &DMatrix<T>) -> (DMatrix<T>, Vec<T>) {
        if self.layer_norm {
            normalise(x)
        } else {
            (x.clone(), Vec::new())
        }
    }

    /// The tangent (or cotangent) `v` of the stream through the layer norm
    /// at the point `(y, r)` of [`Self::normed`]: J·v, or `v` without it.
    fn through_norm(&self, y: &DMatrix<T>, r: &[T], v: DMatrix<T>) -> DMatrix<T> {
        if self.layer_norm {
            jacobian_apply(y, r, &v)
        } else {
            v
        }
    }

    /// A block of width `n` with no weights of its own, for the `_on`
    /// passes (whose projections come from elsewhere); the errors of `new`.
    pub fn unweighted(
        n: usize,
        n_heads: usize,
        seq_len: usize,
        attn_scale: T,
        branch_scale: T,
    ) -> Result<Self, BlockError> {
        let w = BlockWeights::from_fn(n, |_, _, _| T::zero());
        let block = Self::new(w, n_heads, seq_len, attn_scale, branch_scale)?;
        let empty = BlockWeights::from_fn(0, |_, _, _| T::zero());
        Ok(TransformerBlock {
            weights: empty,
            ..block
        })
    }

    /// The weights.
    pub fn weights(&self) -> &BlockWeights<T> {
        &self.weights
    }

    /// The weights, to update in place (shapes must be kept).
    pub fn weights_mut(&mut self) -> &mut BlockWeights<T> {
        &mut self.weights
    }

    /// Width N.
    pub fn width(&self) -> usize {
        self.n
    }

    /// Number of heads H.
    pub fn n_heads(&self) -> usize {
        self.n_heads
    }

    /// Head width d = N/H.
    pub fn head_dim(&self) -> usize {
        self.width() / self.n_heads
    }

    /// Tokens per sequence T.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Activities per sequence, T·N (the rows of a batch).
    pub fn n_units(&self) -> usize {
        self.seq_len * self.width()
    }

    /// Crossbar reads per sequence of one pass (forward, JVP or VJP): T per
    /// projection.
    pub fn reads_per_sequence(&self) -> ProjectionReads {
        let t = self.seq_len;
        ProjectionReads {
            q: t,
            k: t,
            v: t,
            o: t,
            mlp_in: t,
            mlp_out: t,
        }
    }

    fn check(&self, m: &DMatrix<T>, what: &str) {
        assert_eq!(m.nrows(), self.n_units(), "{what}: expected T·N rows");
    }

    /// The block's output for `x`, (T·N) × B, and the cache of the other
    /// passes. Panics when `x` has not T·N rows (a programming error).
    pub fn forward(&self, x: &DMatrix<T>) -> (DMatrix<T>, BlockCache<T>) {
        self.forward_on(&self.weights, x)
    }

    /// [`TransformerBlock::forward`] with the projections of `w` (the
    /// block's own weights are not used).
    pub fn forward_on(
        &self,
        w: &dyn Projections<T>,
        x: &DMatrix<T>,
    ) -> (DMatrix<T>, BlockCache<T>) {
        self.check(x, "forward");
        let (n, t, nh, d) = (self.width(), self.seq_len, self.n_heads, self.head_dim());
        let n_seq = x.ncols();
        let mut reads = ProjectionReads::default();
        let xt = tokens_of(x, n);
        let (xn, rx) = self.normed(&xt);
        let q = read(w, Proj::Q, false, &xn, &mut reads.q);
        let k = read(w, Proj::K, false, &xn, &mut reads.k);
        let v = read(w, Proj::V, false, &xn, &mut reads.v);
        let mut p = vec![T::zero(); n_seq * nh * t * t];
        let mut c = DMatrix::zeros(n, t * n_seq);
        let (qs, ks, vs) = (q.as_slice(), k.as_slice(), v.as_slice());
        for b in 0..n_seq {
            for hd in 0..nh {
                for ti in 0..t {
                    let at = |u: usize| (b * t + u) * n + hd * d;
                    let row = &mut p[((b * nh + hd) * t + ti) * t..][..=ti];
                    let qt = &qs[at(ti)..at(ti) + d];
                    for (u, s) in row.iter_mut().enumerate() {
                        *s = self.attn_scale * dot(qt, &ks[at(u)..at(u) + d]);
                    }
                    softmax(row);
                    let ct = &mut c.as_mut_slice()[at(ti)..at(ti) + d];
                    for (u, &pu) in row.iter().enumerate() {
                        axpy(ct, pu, &vs[at(u)..at(u) + d]);
                    }
                }
            }
        }
        let attn = read(w, Proj::O, false, &c, &mut reads.o);
        let h = add(&xt, self.branch_scale, &attn);
        let (hn, rh) = self.normed(&h);
        let z = read(w, Proj::Mlp1, false, &hn, &mut reads.mlp_in);
        let mut g = z.clone();
        let mut dg = z;
        g.iter_mut().zip(dg.iter_mut()).for_each(|(g, dg)| {
            (*g, *dg) = Activation::Gelu.phi_dphi(*g);
        });
        let m = read(w, Proj::Mlp2, false, &g, &mut reads.mlp_out);
        let out = add(&h, self.branch_scale, &m);
        let cache = BlockCache {
            seq_len: t,
            n_heads: nh,
            n_seq,
            xn,
            rx,
            q,
            k,
            v,
            p,
            c,
            h,
            hn,
            rh,
            g,
            dg,
            reads,
        };
        (batch_of(&out, t, n_seq), cache)
    }
}

/// Softmax of `s` in place (shifted by its maximum).
fn softmax<T: Real>(s: &mut [T]) {
    let max = s
        .iter()
        .copied()
        .fold(s[0], |m, x| if x > m { x } else { m });
    let mut sum = T::zero();
    s.iter_mut().for_each(|x| {
        *x = (*x - max).exp();
        sum += *x;
    });
    s.iter_mut().for_each(|x| *x /= sum);
}
