using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;
using RegPS.Engine.Simd;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Fields;

/// <summary>
/// Inversion of displacement fields by fixed-point iteration (Chen et al. 2008) with DIPY 1.6's step rule; each
/// iteration is one pass that updates the estimate and takes the next residual (a composition) voxel by voxel.
/// Working fields hold 3 interleaved float32 world-mm components per voxel, x fastest (see <see cref="FieldGrid"/>).
/// Every kernel runs as a struct row operation over the rows (j, k) of the field grid through
/// <see cref="SliceIterator.Run{T}"/>; each output voxel depends only on the inputs, and reductions keep one partial
/// per row, combined in row order afterwards, so results are bit-identical at any thread count.
/// </summary>
internal static class FieldInversion
{
    /// <summary>
    /// Fixed-point inversion (Chen et al. 2008, DIPY's schedule): p is the warm start and the result. Each iteration
    /// computes the residual q = p + d(x + p(x)) and its voxel norms, then p -= s q with s = eps (0.75 first, then 0.5),
    /// except that residuals longer than maxlen = eps * max|q| get s = eps * maxlen / |q| (a step of eps * maxlen; DIPY
    /// 1.6's step_factor, checked against its invert_vector_field_fixed_point_3d in DipyInversionTests). Stops after maxIter
    /// iterations, when the mean residual is at most tol voxels, or when the largest is at most maxTol voxels
    /// (ITK's InvertDisplacementFieldImageFilter criterion). q is scratch of the same size as p.
    /// </summary>
    // its loop runs hot from the first call: compiled optimised once (not tier 0, then on-stack replacement, then tier 1)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (int Iterations, double Mean, double Max) Invert(float[] d, FieldGrid g, int maxIter, double tol, double maxTol,
        float[] p, float[] q, double[] rowSum, double[] rowMax, int maxDegree, VectorPath path = VectorPath.Widest)
    {
        int rows = g.Rows;
        double mean = double.PositiveInfinity, max = double.PositiveInfinity;
        if (maxIter <= 0) return (0, mean, max);
        // Pass 0 computes the first residual; each later pass fuses the update p -= s q of the previous iteration
        // with the next residual at the same voxel (the update needs only q(x) and the previous global max, and the
        // residual only p(x) and the fixed field d), so n iterations cost n + 1 passes instead of 2n.
        FieldComposition.Compose(p, d, g, 1.0, q, rowSum, rowMax, maxDegree, path);
        int it = 0;
        while (true)
        {
            double eps = it == 0 ? 0.75 : 0.5;
            double sum = 0; max = 0;
            for (int r = 0; r < rows; r++) { sum += rowSum[r]; if (rowMax[r] > max) max = rowMax[r]; }
            mean = sum / g.Count;
            double maxlen = max * eps;
            it++;
            if (it >= maxIter || mean <= tol || max <= maxTol)
            {
                SliceIterator.Run(rows, new UpdateRows(g, p, q, maxlen, eps, path), maxDegree);
                break;
            }
            SliceIterator.Run(rows, new FusedRows(d, g, p, q, maxlen, eps, rowSum, rowMax, path), maxDegree);
        }
        return (it, mean, max);
    }

    private readonly struct UpdateRows(FieldGrid g, float[] p, float[] q, double maxlen, double eps, VectorPath path) : IRowOperation
    {
        public void Invoke(int r) => UpdateRow(r, g, p, q, maxlen, eps, path);
    }

    private readonly struct FusedRows(float[] d, FieldGrid g, float[] p, float[] q, double maxlen, double eps, double[] rowSum, double[] rowMax, VectorPath path) : IRowOperation
    {
        public void Invoke(int r)
        {
            // the pending update p -= s q of the row, then the next residual q = p + d(x + p(x)) with its norms. Each
            // voxel's residual needs only its own updated p(x), so the row's updates first are the same as interleaving.
            UpdateRow(r, g, p, q, maxlen, eps, path);
            FieldComposition.Row(r, p, d, g, 1.0, q, rowSum, rowMax, path);
        }
    }

    /// <summary>
    /// p(x) -= s q(x) along row r with s = eps, or eps maxlen / |q| voxels where the residual is longer than maxlen
    /// (<see cref="UpdateFormula{T}"/>): 4 voxels at a time on the vector paths, one at a time for the rest of the row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateRow(int r, FieldGrid g, float[] p, float[] q, double maxlen, double eps, VectorPath path)
    {
        var w = g.W;
        int nx = g.NX;
        int o = 3 * r * nx;
        int i = 0;
        if (path == VectorPath.Widest && Vector256.IsHardwareAccelerated) i = UpdateRowSimd(r * nx, nx, w, p, q, maxlen, eps);
        else if (path != VectorPath.Scalar && Vector128.IsHardwareAccelerated) i = UpdateRowSimd128(r * nx, nx, w, p, q, maxlen, eps);
        if (i == nx) return;
        var f = new UpdateFormula<ScalarLane>(w, maxlen, eps);
        o += 3 * i;
        for (; i < nx; i++, o += 3)
        {
            f.Update(new(q[o]), new(q[o + 1]), new(q[o + 2]), new(p[o]), new(p[o + 1]), new(p[o + 2]), out var px, out var py, out var pz);
            p[o] = (float)px.Value;
            p[o + 1] = (float)py.Value;
            p[o + 2] = (float)pz.Value;
        }
    }

    /// <summary>
    /// The update of one voxel per lane, written once for the scalar loop (T = <see cref="ScalarLane"/>) and the vector
    /// paths (<see cref="Lanes128"/>, <see cref="Lanes256"/>), which therefore give the same bits: from the residual q
    /// and the estimate p (grid-axis components of world-mm vectors, floats widened), p - s q with s = eps, or
    /// eps maxlen / |W q| where that norm (in voxels) is above maxlen.
    /// </summary>
    internal readonly struct UpdateFormula<T> where T : struct, IDoubleLanes<T>
    {
        private readonly T _w0, _w1, _w2, _w3, _w4, _w5, _w6, _w7, _w8, _max, _eps, _shrink, _lim2;

        /// <summary>For the field grid's W (world to grid, row-major), the step cap maxlen (voxels) and the step eps.</summary>
        // not inlined: the struct then stays in memory and the constants are read from it as operands (promoted to
        // registers instead, they spilled in the 128-bit loops)
        [MethodImpl(MethodImplOptions.NoInlining)]
        public UpdateFormula(double[] w, double maxlen, double eps)
        {
            _w0 = T.Create(w[0]); _w1 = T.Create(w[1]); _w2 = T.Create(w[2]);
            _w3 = T.Create(w[3]); _w4 = T.Create(w[4]); _w5 = T.Create(w[5]);
            _w6 = T.Create(w[6]); _w7 = T.Create(w[7]); _w8 = T.Create(w[8]);
            _max = T.Create(maxlen); _eps = T.Create(eps); _shrink = T.Create(eps * maxlen);
            // lanes whose squared norms are all clearly below maxlen^2 have every norm below maxlen (sqrt is correctly
            // rounded and the margin is far above an ulp): their scale is eps without taking the square roots
            _lim2 = T.Create(maxlen * maxlen * (1 - 1e-9));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Update(T qx, T qy, T qz, T px, T py, T pz, out T ox, out T oy, out T oz)
        {
            var vx = _w0 * qx + _w1 * qy + _w2 * qz;
            var vy = _w3 * qx + _w4 * qy + _w5 * qz;
            var vz = _w6 * qx + _w7 * qy + _w8 * qz;
            var n2 = vx * vx + vy * vy + vz * vz;
            var sc = _eps;
            if (T.GreaterThanAny(n2, _lim2))
            {
                var nrm = T.Sqrt(n2);
                sc = T.ConditionalSelect(T.GreaterThan(nrm, _max), _shrink / nrm, _eps);
            }
            ox = px - sc * qx; oy = py - sc * qy; oz = pz - sc * qz;
        }
    }

    /// <summary>
    /// <see cref="UpdateRow"/> 4 voxels at a time in 4 double lanes: xyz rows read as Vector128 and transposed, widened,
    /// <see cref="UpdateFormula{T}"/>, narrowed and written back as rows. Returns how many voxels of the row were done
    /// (groups whose 4-float loads stay inside the arrays).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int UpdateRowSimd(int v0, int nx, double[] w, float[] p, float[] q, double maxlen, double eps)
    {
        var f = new UpdateFormula<Lanes256>(w, maxlen, eps);
        int i = 0;
        fixed (float* pp = p, pq = q)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = 3 * (v0 + i);
                if (o + 12 >= p.Length) break;
                float* sq = pq + o; float* sp = pp + o;
                Transpose(Vector128.Load(sq), Vector128.Load(sq + 3), Vector128.Load(sq + 6), Vector128.Load(sq + 9), out var fqx, out var fqy, out var fqz);
                Transpose(Vector128.Load(sp), Vector128.Load(sp + 3), Vector128.Load(sp + 6), Vector128.Load(sp + 9), out var fpx, out var fpy, out var fpz);
                f.Update(new(ToDouble(fqx)), new(ToDouble(fqy)), new(ToDouble(fqz)), new(ToDouble(fpx)), new(ToDouble(fpy)), new(ToDouble(fpz)),
                    out var px, out var py, out var pz);
                Untranspose(ToSingle(px.Value), ToSingle(py.Value), ToSingle(pz.Value), out var r0, out var r1, out var r2, out var r3);
                // each 4-float store also writes the next voxel's x, overwritten by the next store (or the scalar stores)
                r0.Store(sp); r1.Store(sp + 3); r2.Store(sp + 6);
                sp[9] = r3.GetElement(0); sp[10] = r3.GetElement(1); sp[11] = r3.GetElement(2);
            }
        }
        return i;
    }

    /// <summary>
    /// <see cref="UpdateRowSimd"/> for hardware whose vectors are 128 bits (arm64 NEON, x64 without AVX2): the same
    /// 4-voxel groups and transposes, <see cref="UpdateFormula{T}"/> on two 2-lane halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int UpdateRowSimd128(int v0, int nx, double[] w, float[] p, float[] q, double maxlen, double eps)
    {
        var f = new UpdateFormula<Lanes128>(w, maxlen, eps);
        int i = 0;
        fixed (float* pp = p, pq = q)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = 3 * (v0 + i);
                if (o + 12 >= p.Length) break;
                float* sq = pq + o; float* sp = pp + o;
                Transpose(Vector128.Load(sq), Vector128.Load(sq + 3), Vector128.Load(sq + 6), Vector128.Load(sq + 9), out var fqx, out var fqy, out var fqz);
                Transpose(Vector128.Load(sp), Vector128.Load(sp + 3), Vector128.Load(sp + 6), Vector128.Load(sp + 9), out var fpx, out var fpy, out var fpz);
                f.Update(new(Vector128.WidenLower(fqx)), new(Vector128.WidenLower(fqy)), new(Vector128.WidenLower(fqz)),
                    new(Vector128.WidenLower(fpx)), new(Vector128.WidenLower(fpy)), new(Vector128.WidenLower(fpz)), out var px0, out var py0, out var pz0);
                f.Update(new(Vector128.WidenUpper(fqx)), new(Vector128.WidenUpper(fqy)), new(Vector128.WidenUpper(fqz)),
                    new(Vector128.WidenUpper(fpx)), new(Vector128.WidenUpper(fpy)), new(Vector128.WidenUpper(fpz)), out var px1, out var py1, out var pz1);
                Untranspose(Vector128.Narrow(px0.Value, px1.Value), Vector128.Narrow(py0.Value, py1.Value), Vector128.Narrow(pz0.Value, pz1.Value),
                    out var r0, out var r1, out var r2, out var r3);
                r0.Store(sp); r1.Store(sp + 3); r2.Store(sp + 6);
                sp[9] = r3.GetElement(0); sp[10] = r3.GetElement(1); sp[11] = r3.GetElement(2);
            }
        }
        return i;
    }
}
