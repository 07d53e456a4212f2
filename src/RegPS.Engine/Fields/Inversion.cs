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
    /// p(x) -= s q(x) along row r with s = eps, or eps maxlen / |q| voxels where the residual is longer than maxlen.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateRow(int r, FieldGrid g, float[] p, float[] q, double maxlen, double eps, VectorPath path)
    {
        var w = g.W;
        double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        int nx = g.NX;
        int o = 3 * r * nx;
        int i = 0;
        if (path == VectorPath.Widest && Vector256.IsHardwareAccelerated) i = UpdateRowSimd(r * nx, nx, w, p, q, maxlen, eps);
        else if (path != VectorPath.Scalar && Vector128.IsHardwareAccelerated) i = UpdateRowSimd128(r * nx, nx, w, p, q, maxlen, eps);
        o += 3 * i;
        for (; i < nx; i++, o += 3)
        {
            double qx = q[o], qy = q[o + 1], qz = q[o + 2];
            double vx = w0 * qx + w1 * qy + w2 * qz, vy = w3 * qx + w4 * qy + w5 * qz, vz = w6 * qx + w7 * qy + w8 * qz;
            double nrm = Math.Sqrt(vx * vx + vy * vy + vz * vz);
            double sc = nrm > maxlen ? eps * maxlen / nrm : eps;
            p[o] = (float)(p[o] - sc * qx);
            p[o + 1] = (float)(p[o + 1] - sc * qy);
            p[o + 2] = (float)(p[o + 2] - sc * qz);
        }
    }

    /// <summary>
    /// The update of <see cref="UpdateRow"/> for 4 voxels at a time in double SIMD: xyz rows read as Vector128 and
    /// transposed, then exactly the scalar loop's operations in the same order (so the same bits), written back as rows.
    /// Returns how many voxels of the row were done (groups whose 4-float loads stay inside the arrays).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int UpdateRowSimd(int v0, int nx, double[] w, float[] p, float[] q, double maxlen, double eps)
    {
        var w0 = Vector256.Create(w[0]); var w1 = Vector256.Create(w[1]); var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]); var w4 = Vector256.Create(w[4]); var w5 = Vector256.Create(w[5]);
        var w6 = Vector256.Create(w[6]); var w7 = Vector256.Create(w[7]); var w8 = Vector256.Create(w[8]);
        var vmax = Vector256.Create(maxlen); var veps = Vector256.Create(eps); var vshrink = Vector256.Create(eps * maxlen);
        // a group whose squared norms are all clearly below maxlen^2 has every norm below maxlen (sqrt is correctly
        // rounded and the margin is far above an ulp): its scale is eps without taking the 4 square roots
        var vlim2 = Vector256.Create(maxlen * maxlen * (1 - 1e-9));
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
                var qx = ToDouble(fqx); var qy = ToDouble(fqy); var qz = ToDouble(fqz);
                var vx = w0 * qx + w1 * qy + w2 * qz;
                var vy = w3 * qx + w4 * qy + w5 * qz;
                var vz = w6 * qx + w7 * qy + w8 * qz;
                var n2 = vx * vx + vy * vy + vz * vz;
                var sc = veps;
                if (Vector256.GreaterThanAny(n2, vlim2))
                {
                    var nrm = Vector256.Sqrt(n2);
                    sc = Vector256.ConditionalSelect(Vector256.GreaterThan(nrm, vmax), vshrink / nrm, veps);
                }
                var px = ToDouble(fpx) - sc * qx;
                var py = ToDouble(fpy) - sc * qy;
                var pz = ToDouble(fpz) - sc * qz;
                Untranspose(ToSingle(px), ToSingle(py), ToSingle(pz), out var r0, out var r1, out var r2, out var r3);
                // each 4-float store also writes the next voxel's x, overwritten by the next store (or the scalar stores)
                r0.Store(sp); r1.Store(sp + 3); r2.Store(sp + 6);
                sp[9] = r3.GetElement(0); sp[10] = r3.GetElement(1); sp[11] = r3.GetElement(2);
            }
        }
        return i;
    }

    /// <summary>
    /// <see cref="UpdateRowSimd"/> for hardware whose vectors are 128 bits (arm64 NEON, x64 without AVX2): the same
    /// 4-voxel groups, transposes and operations, the doubles in two 2-lane halves. Same bits as both other paths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int UpdateRowSimd128(int v0, int nx, double[] w, float[] p, float[] q, double maxlen, double eps)
    {
        var c = new UpdateConstants128(w, maxlen, eps);
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
                c.Update(Vector128.WidenLower(fqx), Vector128.WidenLower(fqy), Vector128.WidenLower(fqz),
                    Vector128.WidenLower(fpx), Vector128.WidenLower(fpy), Vector128.WidenLower(fpz), out var px0, out var py0, out var pz0);
                c.Update(Vector128.WidenUpper(fqx), Vector128.WidenUpper(fqy), Vector128.WidenUpper(fqz),
                    Vector128.WidenUpper(fpx), Vector128.WidenUpper(fpy), Vector128.WidenUpper(fpz), out var px1, out var py1, out var pz1);
                Untranspose(Vector128.Narrow(px0, px1), Vector128.Narrow(py0, py1), Vector128.Narrow(pz0, pz1), out var r0, out var r1, out var r2, out var r3);
                r0.Store(sp); r1.Store(sp + 3); r2.Store(sp + 6);
                sp[9] = r3.GetElement(0); sp[10] = r3.GetElement(1); sp[11] = r3.GetElement(2);
            }
        }
        return i;
    }

    /// <summary>The 2-lane double arithmetic of one half of a group in <see cref="UpdateRowSimd128"/>.</summary>
    private readonly struct UpdateConstants128(double[] w, double maxlen, double eps)
    {
        private readonly Vector128<double> _w0 = Vector128.Create(w[0]), _w1 = Vector128.Create(w[1]), _w2 = Vector128.Create(w[2]);
        private readonly Vector128<double> _w3 = Vector128.Create(w[3]), _w4 = Vector128.Create(w[4]), _w5 = Vector128.Create(w[5]);
        private readonly Vector128<double> _w6 = Vector128.Create(w[6]), _w7 = Vector128.Create(w[7]), _w8 = Vector128.Create(w[8]);
        private readonly Vector128<double> _max = Vector128.Create(maxlen), _eps = Vector128.Create(eps), _shrink = Vector128.Create(eps * maxlen);
        private readonly Vector128<double> _lim2 = Vector128.Create(maxlen * maxlen * (1 - 1e-9));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Update(Vector128<double> qx, Vector128<double> qy, Vector128<double> qz, Vector128<double> px, Vector128<double> py, Vector128<double> pz,
            out Vector128<double> ox, out Vector128<double> oy, out Vector128<double> oz)
        {
            var vx = _w0 * qx + _w1 * qy + _w2 * qz;
            var vy = _w3 * qx + _w4 * qy + _w5 * qz;
            var vz = _w6 * qx + _w7 * qy + _w8 * qz;
            var n2 = vx * vx + vy * vy + vz * vz;
            var sc = _eps;
            if (Vector128.GreaterThanAny(n2, _lim2))
            {
                var nrm = Vector128.Sqrt(n2);
                sc = Vector128.ConditionalSelect(Vector128.GreaterThan(nrm, _max), _shrink / nrm, _eps);
            }
            ox = px - sc * qx; oy = py - sc * qy; oz = pz - sc * qz;
        }
    }
}
