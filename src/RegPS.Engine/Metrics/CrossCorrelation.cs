using System.Runtime.CompilerServices;
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Fields;
using RegPS.Engine.Parallel;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Metrics;

/// <summary>What a SyN metric gives each iteration: the forward and backward steps and the energy.</summary>
internal interface ISynStepMetric
{
    /// <summary>
    /// From the images warped to the reference grid (I = static, J = moving), writes the forward step u (applied to the
    /// static side) and the backward step v (moving side) as world-mm vectors on g (3 interleaved components), already
    /// smoothed, and returns the energy of this iteration.
    /// </summary>
    double ComputeSteps(float[] wstatic, float[] wmoving, FieldGrid g, float[] u, float[] v, int maxDegree);
}

/// <summary>
/// DIPY's CCMetric (local normalised cross-correlation over a (2r+1)^d window, truncated at the border).
///
/// Window sums: the five moments I, J, I^2, J^2, IJ are summed over the window with separable running box sums,
/// one pass per axis (greedy's OneDimensionalInPlaceAccumulateFilter idea): the x pass builds the moments on the fly
/// from the two images, the y and z passes run in place with a ring of r+1 saved lines, each position adding the line
/// entering the window and subtracting the one leaving it. Cost: O(1) per voxel per axis whatever the radius.
/// Large 3D volumes are streamed along z (<see cref="StreamSlices"/>): each slice's x and y sums go into a ring of
/// 2r+2 slices and a running z sum feeds that slice's steps, so the 5 doubles per voxel are never stored for the
/// whole volume. All sums and the NCC arithmetic are double (float window sums of I^2 cancel).
///
/// Factors per voxel (cnt = product of the clipped window sides): A = SIJ - SI SJ/cnt, B = SII - SI^2/cnt,
/// C = SJJ - SJ^2/cnt, I' = I - SI/cnt, J' = J - SJ/cnt. Steps, for voxels at least r from every face (DIPY's rule;
/// the sums follow DIPY's truncated-window rule, but no truncated window reaches a step or the energy):
///   u = -(2A/(BC)) (J' - (A/B) I') grad I,   v = -(2A/(BC)) (I' - (A/C) J') grad J,
/// energy = -sum A^2/(BC) over voxels with BC &gt; 1e-5 and CC &lt; 1. Voxels whose window is flat (B or C at most
/// 1e-9 cnt, i.e. a standard deviation below 3e-5 on the [0,1] scale) get no step; DIPY tests B == 0 in float,
/// which round-off rarely meets exactly. Gradients are central differences in voxel units taken to world axes
/// with W^T (numpy.gradient then DIPY's spacing and direction for orthonormal directions). u and v are then smoothed
/// with a Gaussian of sigma_diff voxels (reflect), as DIPY's compute_forward/compute_backward do (kernel radius
/// round(truncate sigma_diff): DIPY's scipy truncates at 4, RegPS's default at 3).
/// </summary>
internal sealed class CrossCorrelationMetric : ISynStepMetric
{
    private readonly int _radius;
    private readonly double _sigmaDiff, _truncate;
    private readonly double[] _rowEnergy;
    // whole-image window sums (2D), or the ring of slice sums and the running z sum (3D); grown as levels get finer
    private double[]? _sums, _ring, _acc;

    public CrossCorrelationMetric(int radius, double sigmaDiff, int capacityRows, double truncate = Filters.Gaussian.Truncate)
    {
        if (radius < 1) throw new ArgumentOutOfRangeException(nameof(radius), "The CC radius must be at least 1.");
        _radius = radius;
        _sigmaDiff = sigmaDiff;
        _truncate = truncate;
        _rowEnergy = new double[capacityRows];
    }

    /// <summary>
    /// 3D volumes of more than <see cref="StreamAbove"/> voxels stream along z: the x and y window sums of one slice at a
    /// time go into a ring of 2r+2 slices, a running z sum adds the slice entering the window and subtracts the one
    /// leaving it, and each slice's steps are taken from that running sum while it is in cache. Smaller volumes (the
    /// coarse levels) take whole-volume passes instead: 4 parallel loops per iteration rather than 3 per slice, and the
    /// 5 doubles per voxel are little memory there. Both do the same additions in the same order (the same bits).
    /// True or false forces one way (for tests).
    /// </summary>
    internal bool? StreamSlices { get; init; }

    /// <summary>Volumes above this many voxels stream (see <see cref="StreamSlices"/>): 20 MB of window sums.</summary>
    internal const int StreamAbove = 1 << 19;

    /// <summary>False keeps the steps on the scalar loop (for tests: the SIMD path must give its bits).</summary>
    internal RegPS.Engine.Simd.VectorPath Path { get; init; } = RegPS.Engine.Simd.VectorPath.Widest;

    private static double[] Grow(ref double[]? buffer, long length)
    {
        if (buffer is null || buffer.Length < length) buffer = new double[length];
        return buffer;
    }

    /// <summary>
    /// Window sums of (I, J, I^2, J^2, IJ) over the truncated (2r+1)^d window, into sums (5 per voxel, interleaved).
    /// </summary>
    internal static void BoxSums(float[] I, float[] J, int nx, int ny, int nz, int r, double[] sums, int maxDegree)
    {
        // y pass blocks of columns: 16 when there are few slices (2D), so both threads get a balanced share
        int block = nz >= 4 ? 64 : 16;
        int nblocks = (nx + block - 1) / block;
        if (ny > 1 && nz >= 4)
        {
            // 3D: the x and y passes fused per slice (the slice's x sums are still in cache for its y pass; the same
            // operations per element as separate passes)
            SliceIterator.For(nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (k) =>
            {
                for (int j = 0; j < ny; j++) BoxRowX(I, J, nx, k * ny + j, r, sums, 5 * (k * ny + j) * nx);
                RunLines(sums, 5 * k * nx * ny, 5 * nx, ny, 5 * nx, r);
            });
        }
        else
        {
            // x pass: running sum along each row, moments computed on the fly.
            SliceIterator.For(ny * nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (row) => BoxRowX(I, J, nx, row, r, sums, 5 * row * nx));
            // y pass: in place, per slice and block of columns (so 2D images still split across threads).
            if (ny > 1)
                SliceIterator.For(nz * nblocks, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
                {
                    int k = task / nblocks, x0 = (task % nblocks) * block, w = 5 * Math.Min(block, nx - x0);
                    RunLines(sums, 5 * (k * nx * ny + x0), 5 * nx, ny, w, r);
                });
        }
        if (nz > 1)
            SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) => RunLines(sums, 5 * j * nx, 5 * nx * ny, nz, 5 * nx, r));
    }

    /// <summary>
    /// x pass of one row: running window sums of the five moments, built on the fly from the two images, written to
    /// sums from index dst (5 per voxel).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BoxRowX(float[] I, float[] J, int nx, int row, int r, double[] sums, int dst)
    {
        int b = row * nx;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0;
        for (int t = 0; t < Math.Min(r, nx); t++)
        {
            double x = I[b + t], y = J[b + t];
            a0 += x; a1 += y; a2 += x * x; a3 += y * y; a4 += x * y;
        }
        for (int i = 0; i < nx; i++)
        {
            int add = i + r, sub = i - r - 1;
            if (add < nx) { double x = I[b + add], y = J[b + add]; a0 += x; a1 += y; a2 += x * x; a3 += y * y; a4 += x * y; }
            if (sub >= 0) { double x = I[b + sub], y = J[b + sub]; a0 -= x; a1 -= y; a2 -= x * x; a3 -= y * y; a4 -= x * y; }
            int o = dst + 5 * i;
            sums[o] = a0; sums[o + 1] = a1; sums[o + 2] = a2; sums[o + 3] = a3; sums[o + 4] = a4;
        }
    }

    /// <summary>
    /// In-place running window sum along one axis for a bundle of `width` contiguous doubles per position:
    /// position p becomes the sum of positions [p-r, p+r] clipped to [0, n). The originals still needed for the
    /// subtraction are kept in a ring of r+1 bundles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunLines(double[] s, int baseOffset, int stride, int n, int width, int r)
    {
        var acc = ArrayPool<double>.Shared.Rent(width);
        var ring = ArrayPool<double>.Shared.Rent(width * (r + 1));
        try
        {
            Array.Clear(acc, 0, width);
            var accs = acc.AsSpan(0, width);
            for (int t = 0; t < Math.Min(r, n); t++)
                AddTo(accs, s.AsSpan(baseOffset + t * stride, width));
            for (int p = 0; p < n; p++)
            {
                int add = p + r, sub = p - r - 1;
                if (add < n) AddTo(accs, s.AsSpan(baseOffset + add * stride, width));
                int slot = (p % (r + 1)) * width;
                if (sub >= 0) SubtractFrom(accs, ring.AsSpan(slot, width));
                int po = baseOffset + p * stride;
                Array.Copy(s, po, ring, slot, width);
                Array.Copy(acc, 0, s, po, width);
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(acc);
            ArrayPool<double>.Shared.Return(ring);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StepRow(int row, float[] I, float[] J, double[] s, int sBase, double[] w, int nx, int ny, int nz, int r, bool twoD, RegPS.Engine.Simd.VectorPath simd, float[] u, float[] v, double[] energy)
    {
        int sxy = nx * ny;
        int j = row % ny, k = row / ny;
        int b = row * nx;
        double e = 0;
        bool rowInterior = j >= r && j < ny - r && (twoD || (k >= r && k < nz - r));
        if (!rowInterior)
        {
            Array.Clear(u, 3 * b, 3 * nx);
            Array.Clear(v, 3 * b, 3 * nx);
            energy[row] = 0;
            return;
        }
        double cyz = (double)Clipped(j, ny, r) * (twoD ? 1 : Clipped(k, nz, r));
        int i = 0, stop = Math.Min(r, nx);
        for (int pass = 0; pass < 2; pass++)
        {
        for (; i < stop; i++)
        {
            int o = b + i, o3 = 3 * o;
            if (i < r || i >= nx - r) { u[o3] = u[o3 + 1] = u[o3 + 2] = 0; v[o3] = v[o3 + 1] = v[o3 + 2] = 0; continue; }
            double cnt = cyz * Clipped(i, nx, r);
            int q = 5 * o - sBase;
            double sI = s[q], sJ = s[q + 1];
            double A = s[q + 4] - sI * sJ / cnt;
            double B = s[q + 2] - sI * sI / cnt;
            double C = s[q + 3] - sJ * sJ / cnt;
            if (B <= 1e-9 * cnt || C <= 1e-9 * cnt) { u[o3] = u[o3 + 1] = u[o3 + 2] = 0; v[o3] = v[o3 + 1] = v[o3 + 2] = 0; continue; }
            double Ii = I[o] - sI / cnt, Ji = J[o] - sJ / cnt;
            double BC = B * C;
            if (BC > 1e-5)
            {
                double cc = A * A / BC;
                if (cc < 1) e -= cc;
            }
            double f = 2.0 * A / BC;
            double tf = f * (Ji - A / B * Ii);
            double tb = f * (Ii - A / C * Ji);
            // gradients in voxel units (central differences; interior voxels only), then world: g_w = W^T g_v
            double gi0 = 0.5 * (I[o + 1] - I[o - 1]), gi1 = 0.5 * (I[o + nx] - I[o - nx]), gi2 = twoD ? 0 : 0.5 * (I[o + sxy] - I[o - sxy]);
            double gj0 = 0.5 * (J[o + 1] - J[o - 1]), gj1 = 0.5 * (J[o + nx] - J[o - nx]), gj2 = twoD ? 0 : 0.5 * (J[o + sxy] - J[o - sxy]);
            u[o3] = (float)(-tf * (w[0] * gi0 + w[3] * gi1 + w[6] * gi2));
            u[o3 + 1] = (float)(-tf * (w[1] * gi0 + w[4] * gi1 + w[7] * gi2));
            u[o3 + 2] = twoD ? 0f : (float)(-tf * (w[2] * gi0 + w[5] * gi1 + w[8] * gi2));
            v[o3] = (float)(-tb * (w[0] * gj0 + w[3] * gj1 + w[6] * gj2));
            v[o3 + 1] = (float)(-tb * (w[1] * gj0 + w[4] * gj1 + w[7] * gj2));
            v[o3 + 2] = twoD ? 0f : (float)(-tb * (w[2] * gj0 + w[5] * gj1 + w[8] * gj2));
        }
            if (pass == 0)
            {
                if (simd == RegPS.Engine.Simd.VectorPath.Widest && Vector256.IsHardwareAccelerated) i = StepRowSimd(b, i, nx - r, cyz * (2 * r + 1), I, J, s, sBase, w, nx, sxy, twoD, u, v, ref e);
                else if (simd != RegPS.Engine.Simd.VectorPath.Scalar && Vector128.IsHardwareAccelerated) i = StepRowSimd128(b, i, nx - r, cyz * (2 * r + 1), I, J, s, sBase, w, nx, sxy, twoD, u, v, ref e);
                stop = nx;
            }
        }
        energy[row] = e;
            }

    /// <summary>
    /// <see cref="StepRowSimd"/> for 128-bit vector hardware (arm64 NEON): the same 4-voxel groups, the float image
    /// differences in one 4-lane vector, the double arithmetic in two 2-lane halves; the scalar loop's bits, as both others.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static unsafe int StepRowSimd128(int b, int i0, int iEnd, double cntS, float[] I, float[] J, double[] s, int sBase, double[] w,
        int nx, int sxy, bool twoD, float[] u, float[] v, ref double e)
    {
        var zMask = twoD ? Vector128<float>.Zero : Vector128<float>.AllBitsSet;
        var k = new CcConstants128(cntS, w);
        double* ccs = stackalloc double[4];
        var outs = stackalloc Vector128<double>[12];
        var oks = stackalloc Vector128<double>[2];
        int i = i0;
        fixed (float* pI = I, pJ = J, pu = u, pv = v)
        fixed (double* ps = s)
        {
            for (; i + 4 <= iEnd; i += 4)
            {
                int o = b + i;
                double* q = ps + (5 * o - sBase);
                var fI = Vector128.Load(pI + o); var fJ = Vector128.Load(pJ + o);
                var dI0 = Vector128.Load(pI + o + 1) - Vector128.Load(pI + o - 1);
                var dI1 = Vector128.Load(pI + o + nx) - Vector128.Load(pI + o - nx);
                var dI2 = twoD ? Vector128<float>.Zero : Vector128.Load(pI + o + sxy) - Vector128.Load(pI + o - sxy);
                var dJ0 = Vector128.Load(pJ + o + 1) - Vector128.Load(pJ + o - 1);
                var dJ1 = Vector128.Load(pJ + o + nx) - Vector128.Load(pJ + o - nx);
                var dJ2 = twoD ? Vector128<float>.Zero : Vector128.Load(pJ + o + sxy) - Vector128.Load(pJ + o - sxy);
                int cm = 0;
                for (int h = 0; h < 2; h++)
                {
                    double* qh = q + 10 * h;
                    Vector128<double> Lo(Vector128<float> x) => h == 0 ? Vector128.WidenLower(x) : Vector128.WidenUpper(x);
                    cm |= k.Half(Vector128.Create(qh[0], qh[5]), Vector128.Create(qh[1], qh[6]), Vector128.Create(qh[2], qh[7]), Vector128.Create(qh[3], qh[8]), Vector128.Create(qh[4], qh[9]),
                        Lo(fI), Lo(fJ), Lo(dI0), Lo(dI1), Lo(dI2), Lo(dJ0), Lo(dJ1), Lo(dJ2), twoD, outs + 6 * h, ref oks[h], ccs + 2 * h) << (2 * h);
                }
                var m = Vector128.Narrow(oks[0].AsInt64(), oks[1].AsInt64()).AsSingle();
                var ux = Vector128.Narrow(outs[0], outs[6]) & m; var uy = Vector128.Narrow(outs[1], outs[7]) & m; var uz = Vector128.Narrow(outs[2], outs[8]) & m & zMask;
                var vx = Vector128.Narrow(outs[3], outs[9]) & m; var vy = Vector128.Narrow(outs[4], outs[10]) & m; var vz = Vector128.Narrow(outs[5], outs[11]) & m & zMask;
                float* du = pu + 3 * o; float* dv = pv + 3 * o;
                Untranspose(ux, uy, uz, out var r0, out var r1, out var r2, out var r3);
                r0.Store(du); r1.Store(du + 3); r2.Store(du + 6); du[9] = r3.GetElement(0); du[10] = r3.GetElement(1); du[11] = r3.GetElement(2);
                Untranspose(vx, vy, vz, out r0, out r1, out r2, out r3);
                r0.Store(dv); r1.Store(dv + 3); r2.Store(dv + 6); dv[9] = r3.GetElement(0); dv[10] = r3.GetElement(1); dv[11] = r3.GetElement(2);
                if (cm != 0)
                    for (int l = 0; l < 4; l++) if ((cm & (1 << l)) != 0) e -= ccs[l];
            }
        }
        return i;
    }

    /// <summary>The 2-lane double arithmetic of <see cref="StepRowSimd128"/>, in <see cref="StepRowSimd"/>'s order.</summary>
    private readonly struct CcConstants128(double cntS, double[] w)
    {
        private readonly Vector128<double> _cnt = Vector128.Create(cntS), _flat = Vector128.Create(1e-9 * cntS), _bc = Vector128.Create(1e-5);
        private readonly Vector128<double> _one = Vector128.Create(1.0), _two = Vector128.Create(2.0), _half = Vector128.Create(0.5);
        private readonly Vector128<double> _w0 = Vector128.Create(w[0]), _w1 = Vector128.Create(w[1]), _w2 = Vector128.Create(w[2]);
        private readonly Vector128<double> _w3 = Vector128.Create(w[3]), _w4 = Vector128.Create(w[4]), _w5 = Vector128.Create(w[5]);
        private readonly Vector128<double> _w6 = Vector128.Create(w[6]), _w7 = Vector128.Create(w[7]), _w8 = Vector128.Create(w[8]);

        /// <summary>Writes u x, y, z and v x, y, z (out[0..5]), the flat-window mask and the CC terms; returns the energy lanes' bits.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public unsafe int Half(Vector128<double> sI, Vector128<double> sJ, Vector128<double> sII, Vector128<double> sJJ, Vector128<double> sIJ,
            Vector128<double> fI, Vector128<double> fJ, Vector128<double> dI0, Vector128<double> dI1, Vector128<double> dI2,
            Vector128<double> dJ0, Vector128<double> dJ1, Vector128<double> dJ2, bool twoD, Vector128<double>* outs, ref Vector128<double> ok, double* ccs)
        {
            var A = sIJ - sI * sJ / _cnt;
            var B = sII - sI * sI / _cnt;
            var C = sJJ - sJ * sJ / _cnt;
            ok = Vector128.GreaterThan(B, _flat) & Vector128.GreaterThan(C, _flat);
            var Ii = fI - sI / _cnt;
            var Ji = fJ - sJ / _cnt;
            var BC = B * C;
            var cc = A * A / BC;
            var count = ok & Vector128.GreaterThan(BC, _bc) & Vector128.LessThan(cc, _one);
            var f = _two * A / BC;
            var tf = f * (Ji - A / B * Ii);
            var tb = f * (Ii - A / C * Ji);
            var gi0 = _half * dI0; var gi1 = _half * dI1; var gi2 = twoD ? Vector128<double>.Zero : _half * dI2;
            var gj0 = _half * dJ0; var gj1 = _half * dJ1; var gj2 = twoD ? Vector128<double>.Zero : _half * dJ2;
            var ntf = -tf; var ntb = -tb;
            outs[0] = ntf * (_w0 * gi0 + _w3 * gi1 + _w6 * gi2);
            outs[1] = ntf * (_w1 * gi0 + _w4 * gi1 + _w7 * gi2);
            outs[2] = ntf * (_w2 * gi0 + _w5 * gi1 + _w8 * gi2);
            outs[3] = ntb * (_w0 * gj0 + _w3 * gj1 + _w6 * gj2);
            outs[4] = ntb * (_w1 * gj0 + _w4 * gj1 + _w7 * gj2);
            outs[5] = ntb * (_w2 * gj0 + _w5 * gj1 + _w8 * gj2);
            cc.Store(ccs);
            return (int)count.ExtractMostSignificantBits();
        }
    }

    /// <summary>
    /// The interior part of <see cref="StepRow"/> (2D and 3D), 4 voxels at a time in double SIMD from i0 while the group ends
    /// by iEnd: the scalar loop's operations in the same order (float image differences, then double), flat windows
    /// masked to zero, energy terms subtracted in voxel order, so the bits are the scalar loop's. Returns the next i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    private static unsafe int StepRowSimd(int b, int i0, int iEnd, double cntS, float[] I, float[] J, double[] s, int sBase, double[] w,
        int nx, int sxy, bool twoD, float[] u, float[] v, ref double e)
    {
        // 2D: the z gradients are 0 (as in the scalar loop, which still adds w * 0) and the z components are written as +0
        var zMask = twoD ? Vector128<float>.Zero : Vector128<float>.AllBitsSet;
        var cnt = Vector256.Create(cntS);
        var flatLim = Vector256.Create(1e-9 * cntS);
        var bcLim = Vector256.Create(1e-5);
        var one = Vector256.Create(1.0); var two = Vector256.Create(2.0); var half = Vector256.Create(0.5);
        var w0 = Vector256.Create(w[0]); var w1 = Vector256.Create(w[1]); var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]); var w4 = Vector256.Create(w[4]); var w5 = Vector256.Create(w[5]);
        var w6 = Vector256.Create(w[6]); var w7 = Vector256.Create(w[7]); var w8 = Vector256.Create(w[8]);
        var idx5 = Vector128.Create(0, 5, 10, 15);
        double* ccs = stackalloc double[4];
        int i = i0;
        fixed (float* pI = I, pJ = J, pu = u, pv = v)
        fixed (double* ps = s)
        {
            for (; i + 4 <= iEnd; i += 4)
            {
                int o = b + i;
                double* q = ps + (5 * o - sBase);
                var sI = Gather(q, idx5); var sJ = Gather(q + 1, idx5);
                var sII = Gather(q + 2, idx5); var sJJ = Gather(q + 3, idx5);
                var sIJ = Gather(q + 4, idx5);
                var A = sIJ - sI * sJ / cnt;
                var B = sII - sI * sI / cnt;
                var C = sJJ - sJ * sJ / cnt;
                var ok = Vector256.GreaterThan(B, flatLim) & Vector256.GreaterThan(C, flatLim);
                var Ii = ToDouble(Vector128.Load(pI + o)) - sI / cnt;
                var Ji = ToDouble(Vector128.Load(pJ + o)) - sJ / cnt;
                var BC = B * C;
                var cc = A * A / BC;
                var count = ok & Vector256.GreaterThan(BC, bcLim) & Vector256.LessThan(cc, one);
                var f = two * A / BC;
                var tf = f * (Ji - A / B * Ii);
                var tb = f * (Ii - A / C * Ji);
                var gi0 = half * ToDouble(Vector128.Load(pI + o + 1) - Vector128.Load(pI + o - 1));
                var gi1 = half * ToDouble(Vector128.Load(pI + o + nx) - Vector128.Load(pI + o - nx));
                var gi2 = twoD ? Vector256<double>.Zero : half * ToDouble(Vector128.Load(pI + o + sxy) - Vector128.Load(pI + o - sxy));
                var gj0 = half * ToDouble(Vector128.Load(pJ + o + 1) - Vector128.Load(pJ + o - 1));
                var gj1 = half * ToDouble(Vector128.Load(pJ + o + nx) - Vector128.Load(pJ + o - nx));
                var gj2 = twoD ? Vector256<double>.Zero : half * ToDouble(Vector128.Load(pJ + o + sxy) - Vector128.Load(pJ + o - sxy));
                var ntf = -tf; var ntb = -tb;
                var ux = ToSingle(ntf * (w0 * gi0 + w3 * gi1 + w6 * gi2));
                var uy = ToSingle(ntf * (w1 * gi0 + w4 * gi1 + w7 * gi2));
                var uz = ToSingle(ntf * (w2 * gi0 + w5 * gi1 + w8 * gi2));
                var vx = ToSingle(ntb * (w0 * gj0 + w3 * gj1 + w6 * gj2));
                var vy = ToSingle(ntb * (w1 * gj0 + w4 * gj1 + w7 * gj2));
                var vz = ToSingle(ntb * (w2 * gj0 + w5 * gj1 + w8 * gj2));
                // lane mask from the double compare (all ones / zeros per 64 bits) narrowed to 32-bit lanes
                var m = Vector128.Narrow(ok.AsInt64().GetLower(), ok.AsInt64().GetUpper()).AsSingle();
                ux &= m; uy &= m; uz &= m & zMask; vx &= m; vy &= m; vz &= m & zMask;
                float* du = pu + 3 * o; float* dv = pv + 3 * o;
                Untranspose(ux, uy, uz, out var r0, out var r1, out var r2, out var r3);
                r0.Store(du); r1.Store(du + 3); r2.Store(du + 6); du[9] = r3.GetElement(0); du[10] = r3.GetElement(1); du[11] = r3.GetElement(2);
                Untranspose(vx, vy, vz, out r0, out r1, out r2, out r3);
                r0.Store(dv); r1.Store(dv + 3); r2.Store(dv + 6); dv[9] = r3.GetElement(0); dv[10] = r3.GetElement(1); dv[11] = r3.GetElement(2);
                int cm = (int)count.ExtractMostSignificantBits();
                if (cm != 0)
                {
                    cc.Store(ccs);
                    for (int l = 0; l < 4; l++) if ((cm & (1 << l)) != 0) e -= ccs[l];
                }
            }
        }
        return i;
    }

    /// <summary>
    /// The 3D steps slice by slice (see <see cref="StreamSlices"/>): window sums of slice t in ring slot t mod (2r+2),
    /// the running z sum for slice p in acc, updated row by row right before that row's steps. Mirrors RunLines' z pass:
    /// acc starts as the sum of slices 0..r-1; slice p adds slice p+r (if any) and subtracts slice p-r-1 (if any).
    /// </summary>
    private void StreamSteps(float[] I, float[] J, FieldGrid g, float[] u, float[] v, int maxDegree)
    {
        const int block = 64;
        int nx = g.NX, ny = g.NY, nz = g.NZ, r = _radius, slots = 2 * r + 2;
        int slice = 5 * nx * ny, nb = (nx + block - 1) / block;
        var ring = Grow(ref _ring, (long)slots * slice);
        var acc = Grow(ref _acc, slice);
        Array.Clear(acc, 0, slice);
        var w = g.W;
        var energy = _rowEnergy;
        var simd = Path;
        void SliceSums(int t)
        {
            int off = (t % slots) * slice;
            SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) => BoxRowX(I, J, nx, t * ny + j, r, ring, off + 5 * j * nx));
            SliceIterator.For(nb, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (b) =>
            {
                int x0 = b * block;
                RunLines(ring, off + 5 * x0, 5 * nx, ny, 5 * Math.Min(block, nx - x0), r);
            });
        }
        for (int t = 0; t < Math.Min(r, nz); t++)
        {
            SliceSums(t);
            int off = (t % slots) * slice;
            SliceIterator.For(ny, maxDegree, j => AddTo(acc.AsSpan(5 * j * nx, 5 * nx), ring.AsSpan(off + 5 * j * nx, 5 * nx)));
        }
        for (int p = 0; p < nz; p++)
        {
            int add = p + r, sub = p - r - 1, k = p;
            if (add < nz) SliceSums(add);
            int addOff = (add % slots) * slice, subOff = sub >= 0 ? (sub % slots) * slice : 0;
            SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) =>
            {
                var row = acc.AsSpan(5 * j * nx, 5 * nx);
                if (add < nz) AddTo(row, ring.AsSpan(addOff + 5 * j * nx, 5 * nx));
                if (sub >= 0) SubtractFrom(row, ring.AsSpan(subOff + 5 * j * nx, 5 * nx));
                StepRow(k * ny + j, I, J, acc, 5 * k * nx * ny, w, nx, ny, nz, r, false, simd, u, v, energy);
            });
        }
    }

    /// <summary>acc += src, element-wise (SIMD, scalar tail).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddTo(Span<double> acc, ReadOnlySpan<double> src)
    {
        var va = MemoryMarshal.Cast<double, Vector<double>>(acc);
        var vs = MemoryMarshal.Cast<double, Vector<double>>(src);
        for (int i = 0; i < va.Length; i++) va[i] += vs[i];
        for (int i = va.Length * Vector<double>.Count; i < acc.Length; i++) acc[i] += src[i];
    }

    /// <summary>acc -= src, element-wise (SIMD, scalar tail).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SubtractFrom(Span<double> acc, ReadOnlySpan<double> src)
    {
        var va = MemoryMarshal.Cast<double, Vector<double>>(acc);
        var vs = MemoryMarshal.Cast<double, Vector<double>>(src);
        for (int i = 0; i < va.Length; i++) va[i] -= vs[i];
        for (int i = va.Length * Vector<double>.Count; i < acc.Length; i++) acc[i] -= src[i];
    }

    private static int Clipped(int p, int n, int r) => Math.Min(p + r, n - 1) - Math.Max(p - r, 0) + 1;

    public double ComputeSteps(float[] I, float[] J, FieldGrid g, float[] u, float[] v, int maxDegree)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ, r = _radius;
        bool twoD = g.TwoD;
        var w = g.W;
        var energy = _rowEnergy;
        int radius = r;
        if (nz > 1 && (StreamSlices ?? g.Count > StreamAbove))
            StreamSteps(I, J, g, u, v, maxDegree);
        else
        {
            var s = Grow(ref _sums, 5L * g.Count);
            BoxSums(I, J, nx, ny, nz, r, s, maxDegree);
            var simd = Path;
            SliceIterator.For(g.Rows, maxDegree, row => StepRow(row, I, J, s, 0, w, nx, ny, nz, radius, twoD, simd, u, v, energy));
        }
        double total = 0;
        for (int q = 0; q < g.Rows; q++) total += energy[q];
        var sig = new[] { _sigmaDiff, _sigmaDiff, twoD ? 0 : _sigmaDiff };
        FieldSmoothing.Smooth(new[] { u, v }, 3, nx, ny, nz, sig, maxDegree, _truncate);
        return total;
    }
}
