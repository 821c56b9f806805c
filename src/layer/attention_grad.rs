//! The block's derivatives (a child of `attention`, which holds the
//! forward pass and the helpers): the adjoint pass (VJP and weight
//! gradients, [`Backward`]) and the forward-mode JVP.

use super::*;

/// The adjoint pass of [`TransformerBlock::backward`].
#[derive(Clone, Debug)]
pub struct Backward<T: Real> {
    /// (∂out/∂x)ᵀ·u, (T·N) × B.
    pub dx: DMatrix<T>,
    /// ∂⟨u, out⟩/∂W for each matrix, summed over the batch.
    pub grads: BlockWeights<T>,
    /// The transposed reads the pass made.
    pub reads: ProjectionReads,
}

impl<T: Real> TransformerBlock<T> {
    /// (∂out/∂x)ᵀ·u at the cached point, (T·N) × B, and the transposed
    /// reads it made. Panics when `u` does not match the cache's batch.
    pub fn vjp(&self, cache: &BlockCache<T>, u: &DMatrix<T>) -> (DMatrix<T>, ProjectionReads) {
        self.adjoint(&self.weights, cache, u, None)
    }

    /// [`TransformerBlock::vjp`] with the projections of `w`.
    pub fn vjp_on(
        &self,
        w: &dyn Projections<T>,
        cache: &BlockCache<T>,
        u: &DMatrix<T>,
    ) -> (DMatrix<T>, ProjectionReads) {
        self.adjoint(w, cache, u, None)
    }

    /// ∂⟨u, out⟩/∂W for the six matrices, summed over the B sequences.
    pub fn weight_grads(&self, cache: &BlockCache<T>, u: &DMatrix<T>) -> BlockWeights<T> {
        self.backward(cache, u).grads
    }

    /// The VJP and the weight gradients in one adjoint pass.
    pub fn backward(&self, cache: &BlockCache<T>, u: &DMatrix<T>) -> Backward<T> {
        self.backward_on(&self.weights, cache, u)
    }

    /// [`TransformerBlock::backward`] with the projections of `w`.
    pub fn backward_on(
        &self,
        w: &dyn Projections<T>,
        cache: &BlockCache<T>,
        u: &DMatrix<T>,
    ) -> Backward<T> {
        let n = self.width();
        let mut grads = BlockWeights::from_fn(n, |_, _, _| T::zero());
        let (dx, reads) = self.adjoint(w, cache, u, Some(&mut grads));
        Backward { dx, grads, reads }
    }

    fn adjoint(
        &self,
        w: &dyn Projections<T>,
        cache: &BlockCache<T>,
        u: &DMatrix<T>,
        grads: Option<&mut BlockWeights<T>>,
    ) -> (DMatrix<T>, ProjectionReads) {
        self.check(u, "vjp");
        assert_eq!(
            u.ncols(),
            cache.n_seq,
            "vjp: batch differs from the cache's"
        );
        let (n, t, nh, d) = (self.width(), self.seq_len, self.n_heads, self.head_dim());
        let (cb, sc) = (self.branch_scale, self.attn_scale);
        let mut reads = ProjectionReads::default();
        let ut = tokens_of(u, n);
        // MLP: out = h + c·W2 g, g = GELU(W1 h)
        let dm = &ut * cb;
        let mut dz = read(w, Proj::Mlp2, true, &dm, &mut reads.mlp_out);
        dz.component_mul_assign(&cache.dg);
        let dhn = read(w, Proj::Mlp1, true, &dz, &mut reads.mlp_in);
        let dh = &ut + self.through_norm(&cache.hn, &cache.rh, dhn);
        // attention: h = x + c·Wo concat
        let da = &dh * cb;
        let dc = read(w, Proj::O, true, &da, &mut reads.o);
        let mut dq = DMatrix::zeros(n, t * cache.n_seq);
        let mut dk = dq.clone();
        let mut dv = dq.clone();
        let (qs, ks, vs, dcs) = (
            cache.q.as_slice(),
            cache.k.as_slice(),
            cache.v.as_slice(),
            dc.as_slice(),
        );
        let mut ds = vec![T::zero(); t];
        for b in 0..cache.n_seq {
            for hd in 0..nh {
                let at = |u: usize| (b * t + u) * n + hd * d;
                for ti in 0..t {
                    let p = &cache.p[((b * nh + hd) * t + ti) * t..][..=ti];
                    let dct = &dcs[at(ti)..at(ti) + d];
                    let mut mean = T::zero();
                    for (u, &pu) in p.iter().enumerate() {
                        ds[u] = dot(dct, &vs[at(u)..at(u) + d]);
                        mean += pu * ds[u];
                        axpy(&mut dv.as_mut_slice()[at(u)..at(u) + d], pu, dct);
                    }
                    for (u, &pu) in p.iter().enumerate() {
                        let g = sc * pu * (ds[u] - mean);
                        axpy(
                            &mut dq.as_mut_slice()[at(ti)..at(ti) + d],
                            g,
                            &ks[at(u)..at(u) + d],
                        );
                        axpy(
                            &mut dk.as_mut_slice()[at(u)..at(u) + d],
                            g,
                            &qs[at(ti)..at(ti) + d],
                        );
                    }
                }
            }
        }
        let mut dxn = read(w, Proj::Q, true, &dq, &mut reads.q);
        dxn += read(w, Proj::K, true, &dk, &mut reads.k);
        dxn += read(w, Proj::V, true, &dv, &mut reads.v);
        let dx = &dh + self.through_norm(&cache.xn, &cache.rx, dxn);
        if let Some(g) = grads {
            let pairs = [
                (&dq, &cache.xn),
                (&dk, &cache.xn),
                (&dv, &cache.xn),
                (&da, &cache.c),
                (&dz, &cache.hn),
                (&dm, &cache.g),
            ];
            for (gw, (e, a)) in g.matrices_mut().into_iter().zip(pairs) {
                gemm_abt(T::one(), e, a, T::zero(), gw);
            }
        }
        (batch_of(&dx, t, cache.n_seq), reads)
    }

    /// (∂out/∂x)·v at the cached point, (T·N) × B, and the reads it made.
    /// Panics when `v` does not match the cache's batch.
    pub fn jvp(&self, cache: &BlockCache<T>, v: &DMatrix<T>) -> (DMatrix<T>, ProjectionReads) {
        self.jvp_on(&self.weights, cache, v)
    }

    /// [`TransformerBlock::jvp`] with the projections of `w`.
    pub fn jvp_on(
        &self,
        w: &dyn Projections<T>,
        cache: &BlockCache<T>,
        v: &DMatrix<T>,
    ) -> (DMatrix<T>, ProjectionReads) {
        self.check(v, "jvp");
        assert_eq!(
            v.ncols(),
            cache.n_seq,
            "jvp: batch differs from the cache's"
        );
        let (n, t, nh, d) = (self.width(), self.seq_len, self.n_heads, self.head_dim());
        let (cb, sc) = (self.branch_scale, self.attn_scale);
        let mut reads = ProjectionReads::default();
        let vt = tokens_of(v, n);
        let vn = self.through_norm(&cache.xn, &cache.rx, vt.clone());
        let q1 = read(w, Proj::Q, false, &vn, &mut reads.q);
        let k1 = read(w, Proj::K, false, &vn, &mut reads.k);
        let v1 = read(w, Proj::V, false, &vn, &mut reads.v);
        let (qs, ks, vs) = (cache.q.as_slice(), cache.k.as_slice(), cache.v.as_slice());
        let (q1s, k1s, v1s) = (q1.as_slice(), k1.as_slice(), v1.as_slice());
        let mut c1 = DMatrix::zeros(n, t * cache.n_seq);
        let mut s1 = vec![T::zero(); t];
        for b in 0..cache.n_seq {
            for hd in 0..nh {
                let at = |u: usize| (b * t + u) * n + hd * d;
                for ti in 0..t {
                    let p = &cache.p[((b * nh + hd) * t + ti) * t..][..=ti];
                    let (qt, q1t) = (&qs[at(ti)..at(ti) + d], &q1s[at(ti)..at(ti) + d]);
                    let mut mean = T::zero();
                    for (u, &pu) in p.iter().enumerate() {
                        let r = at(u)..at(u) + d;
                        s1[u] = sc * (dot(q1t, &ks[r.clone()]) + dot(qt, &k1s[r]));
                        mean += pu * s1[u];
                    }
                    let ct = &mut c1.as_mut_slice()[at(ti)..at(ti) + d];
                    for (u, &pu) in p.iter().enumerate() {
                        axpy(ct, pu, &v1s[at(u)..at(u) + d]);
                        axpy(ct, pu * (s1[u] - mean), &vs[at(u)..at(u) + d]);
                    }
                }
            }
        }
        let a1 = read(w, Proj::O, false, &c1, &mut reads.o);
        let h1 = add(&vt, cb, &a1);
        let h1n = self.through_norm(&cache.hn, &cache.rh, h1.clone());
        let mut z1 = read(w, Proj::Mlp1, false, &h1n, &mut reads.mlp_in);
        z1.component_mul_assign(&cache.dg);
        let m1 = read(w, Proj::Mlp2, false, &z1, &mut reads.mlp_out);
        (batch_of(&add(&h1, cb, &m1), t, cache.n_seq), reads)
    }
}
