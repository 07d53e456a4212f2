using System.Runtime.CompilerServices;
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Fields;
using RegPS.Engine.Parallel;
using RegPS.Engine.Simd;
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
/// 2r+1+<see cref="StreamBatch"/> slices and a running z sum feeds that slice's steps, so the 5 doubles per voxel are
/// never stored for the whole volume. All sums and the NCC arithmetic are double (float window sums of I^2 cancel).
/// The per-voxel arithmetic is written once (<see cref="CcFormula{T}"/>) and run on 4 or 2 voxels at a time in double
/// vector lanes and on one voxel in the scalar loop, so every path gives the same bits.
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
/// round(truncate sigma_diff): DIPY's scipy truncates at 4, RegPS's default at 3). With interpolated smoothing (RegPS's
/// default in 3D, for sigma_diff of at least <see cref="DecimatedSmoothing.MinimumSigma"/> voxels) the Gaussian is
/// computed on every second slice and row and interpolated between them (<see cref="DecimatedSmoothing"/>).
/// </summary>
internal sealed class CrossCorrelationMetric : ISynStepMetric
{
    private readonly int _radius;
    private readonly double _sigmaDiff, _truncate;
    private readonly double[] _rowEnergy;
    // whole-image window sums (2D), or the ring of slice sums and the running z sum (3D); grown as levels get finer
    private double[]? _sums, _ring, _acc;
    // set when the 3D steps are smoothed on every second slice and row and interpolated between them
    private readonly DecimatedSmoothing? _decimated;

    public CrossCorrelationMetric(int radius, double sigmaDiff, int capacityRows, double truncate = Filters.Gaussian.Truncate,
        bool interpolatedSmoothing = false)
    {
        if (radius < 1) throw new ArgumentOutOfRangeException(nameof(radius), "The CC radius must be at least 1.");
        _radius = radius;
        _sigmaDiff = sigmaDiff;
        _truncate = truncate;
        _rowEnergy = new double[capacityRows];
        if (interpolatedSmoothing && sigmaDiff >= DecimatedSmoothing.MinimumSigma) _decimated = new DecimatedSmoothing();
    }

    /// <summary>
    /// 3D volumes of more than <see cref="StreamAbove"/> voxels stream along z: the x and y window sums of a few slices at
    /// a time go into a ring of 2r+1+<see cref="StreamBatch"/> slices, a running z sum adds the slice entering the window
    /// and subtracts the one leaving it, and each slice's steps are taken from that running sum while it is in cache.
    /// Smaller volumes (the coarse levels) take whole-volume passes instead: 4 parallel loops per iteration rather than 2
    /// per batch of slices, and the 5 doubles per voxel are little memory there. Both do the same additions in the same
    /// order (the same bits).
    /// True or false forces one way (for tests).
    /// </summary>
    internal bool? StreamSlices { get; init; }

    /// <summary>Volumes above this many voxels stream (see <see cref="StreamSlices"/>): 20 MB of window sums.</summary>
    internal const int StreamAbove = 1 << 19;

    /// <summary>Which code takes the steps (tests force each: the vector paths must give the scalar loop's bits).</summary>
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

    /// <summary>
    /// The steps and energy terms of one row: zero outside the interior (voxels closer than r to a face), else
    /// <see cref="CcFormula{T}"/> per voxel, on four or two lanes at a time (<see cref="StepRowSimd"/>,
    /// <see cref="StepRowSimd128"/>) from the first interior voxel and one lane at a time for the rest of the row.
    /// </summary>
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
        // every window the steps use is whole along x (the voxels closer than r to the x faces get none)
        double cnt = (double)Clipped(j, ny, r) * (twoD ? 1 : Clipped(k, nz, r)) * (2 * r + 1);
        var f = new CcFormula<ScalarLane>(cnt, w);
        int i = 0, stop = Math.Min(r, nx);
        for (int pass = 0; pass < 2; pass++)
        {
            for (; i < stop; i++)
            {
                int o = b + i, o3 = 3 * o;
                if (i < r || i >= nx - r) { u[o3] = u[o3 + 1] = u[o3 + 2] = 0; v[o3] = v[o3 + 1] = v[o3 + 2] = 0; continue; }
                int q = 5 * o - sBase;
                // image differences in float (as the vector paths take them), across the voxel along x, y, z
                f.Step(new(s[q]), new(s[q + 1]), new(s[q + 2]), new(s[q + 3]), new(s[q + 4]), new(I[o]), new(J[o]),
                    new(I[o + 1] - I[o - 1]), new(I[o + nx] - I[o - nx]), twoD ? ScalarLane.Zero : new(I[o + sxy] - I[o - sxy]),
                    new(J[o + 1] - J[o - 1]), new(J[o + nx] - J[o - nx]), twoD ? ScalarLane.Zero : new(J[o + sxy] - J[o - sxy]), twoD,
                    out var ux, out var uy, out var uz, out var vx, out var vy, out var vz, out var ok, out var count, out var cc);
                if (ScalarLane.ExtractMostSignificantBits(ok) == 0) { u[o3] = u[o3 + 1] = u[o3 + 2] = 0; v[o3] = v[o3 + 1] = v[o3 + 2] = 0; continue; }
                u[o3] = (float)ux.Value; u[o3 + 1] = (float)uy.Value; u[o3 + 2] = (float)uz.Value;
                v[o3] = (float)vx.Value; v[o3 + 1] = (float)vy.Value; v[o3 + 2] = (float)vz.Value;
                if (ScalarLane.ExtractMostSignificantBits(count) != 0) e -= cc.Value;
            }
            if (pass == 0)
            {
                if (simd == RegPS.Engine.Simd.VectorPath.Widest && Vector256.IsHardwareAccelerated) i = StepRowSimd(b, i, nx - r, cnt, I, J, s, sBase, w, nx, sxy, twoD, u, v, ref e);
                else if (simd != RegPS.Engine.Simd.VectorPath.Scalar && Vector128.IsHardwareAccelerated) i = StepRowSimd128(b, i, nx - r, cnt, I, J, s, sBase, w, nx, sxy, twoD, u, v, ref e);
                stop = nx;
            }
        }
        energy[row] = e;
    }

    /// <summary>
    /// The CC arithmetic of one voxel per lane, written once for the scalar loop (T = <see cref="ScalarLane"/>) and the
    /// vector paths (<see cref="Lanes128"/>, <see cref="Lanes256"/>), which therefore give the same bits. From the
    /// window sums sI, sJ, sII, sJJ, sIJ (window of cnt voxels), the voxel's values fI, fJ and its image differences
    /// across the voxel along x, y, z (dI0..dJ2: float differences widened, zero along z in 2D): the world steps u and
    /// v (<see cref="CrossCorrelationMetric"/>'s formulas, gradient 0.5 d taken to world axes with W^T; in 2D the z
    /// gradients still enter x and y as w * 0, as they always have, and the z components are +0), the mask ok
    /// of the voxels whose window is not flat (the others get no step; the caller writes 0 there), and the CC term
    /// cc = A^2/(BC) with the mask count of the terms that go into the energy (ok, BC &gt; 1e-5 and cc &lt; 1).
    /// Lanes outside ok hold arbitrary values (a flat window divides by about 0).
    /// </summary>
    internal readonly struct CcFormula<T> where T : struct, IDoubleLanes<T>
    {
        private readonly T _cnt, _flat, _w0, _w1, _w2, _w3, _w4, _w5, _w6, _w7, _w8;

        /// <summary>For windows of cnt voxels and the field grid's W (world to grid, row-major; gradients go to world axes with W^T).</summary>
        // not inlined: the struct then stays in memory and the constants are read from it as operands (promoted to
        // registers instead, they spilled in the 128-bit loops)
        [MethodImpl(MethodImplOptions.NoInlining)]
        public CcFormula(double cnt, double[] w)
        {
            _cnt = T.Create(cnt); _flat = T.Create(1e-9 * cnt);
            _w0 = T.Create(w[0]); _w1 = T.Create(w[1]); _w2 = T.Create(w[2]);
            _w3 = T.Create(w[3]); _w4 = T.Create(w[4]); _w5 = T.Create(w[5]);
            _w6 = T.Create(w[6]); _w7 = T.Create(w[7]); _w8 = T.Create(w[8]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(T sI, T sJ, T sII, T sJJ, T sIJ, T fI, T fJ, T dI0, T dI1, T dI2, T dJ0, T dJ1, T dJ2, bool twoD,
            out T ux, out T uy, out T uz, out T vx, out T vy, out T vz, out T ok, out T count, out T cc)
        {
            var A = sIJ - sI * sJ / _cnt;
            var B = sII - sI * sI / _cnt;
            var C = sJJ - sJ * sJ / _cnt;
            ok = T.GreaterThan(B, _flat) & T.GreaterThan(C, _flat);
            var Ii = fI - sI / _cnt;
            var Ji = fJ - sJ / _cnt;
            var BC = B * C;
            cc = A * A / BC;
            count = ok & T.GreaterThan(BC, T.Create(1e-5)) & T.LessThan(cc, T.Create(1.0));
            var f = T.Create(2.0) * A / BC;
            var tf = f * (Ji - A / B * Ii);
            var tb = f * (Ii - A / C * Ji);
            var half = T.Create(0.5);
            var gi0 = half * dI0; var gi1 = half * dI1; var gi2 = twoD ? T.Zero : half * dI2;
            var gj0 = half * dJ0; var gj1 = half * dJ1; var gj2 = twoD ? T.Zero : half * dJ2;
            var ntf = -tf; var ntb = -tb;
            ux = ntf * (_w0 * gi0 + _w3 * gi1 + _w6 * gi2);
            uy = ntf * (_w1 * gi0 + _w4 * gi1 + _w7 * gi2);
            uz = twoD ? T.Zero : ntf * (_w2 * gi0 + _w5 * gi1 + _w8 * gi2);
            vx = ntb * (_w0 * gj0 + _w3 * gj1 + _w6 * gj2);
            vy = ntb * (_w1 * gj0 + _w4 * gj1 + _w7 * gj2);
            vz = twoD ? T.Zero : ntb * (_w2 * gj0 + _w5 * gj1 + _w8 * gj2);
        }
    }

    /// <summary>
    /// <see cref="StepRowSimd"/> for 128-bit vector hardware (arm64 NEON, x64 without AVX2): the same 4-voxel groups, the
    /// float image differences in one 4-lane vector, <see cref="CcFormula{T}"/> on two 2-lane halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static unsafe int StepRowSimd128(int b, int i0, int iEnd, double cnt, float[] I, float[] J, double[] s, int sBase, double[] w,
        int nx, int sxy, bool twoD, float[] u, float[] v, ref double e)
    {
        var f = new CcFormula<Lanes128>(cnt, w);
        double* ccs = stackalloc double[4];
        var outs = stackalloc Lanes128[12];
        var oks = stackalloc Lanes128[2];
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
                    Lanes128 Lo(Vector128<float> x) => new(h == 0 ? Vector128.WidenLower(x) : Vector128.WidenUpper(x));
                    var oh = outs + 6 * h;
                    f.Step(new(Vector128.Create(qh[0], qh[5])), new(Vector128.Create(qh[1], qh[6])), new(Vector128.Create(qh[2], qh[7])),
                        new(Vector128.Create(qh[3], qh[8])), new(Vector128.Create(qh[4], qh[9])),
                        Lo(fI), Lo(fJ), Lo(dI0), Lo(dI1), Lo(dI2), Lo(dJ0), Lo(dJ1), Lo(dJ2), twoD,
                        out oh[0], out oh[1], out oh[2], out oh[3], out oh[4], out oh[5], out oks[h], out var count, out var cc);
                    cc.Value.Store(ccs + 2 * h);
                    cm |= (int)Lanes128.ExtractMostSignificantBits(count) << (2 * h);
                }
                var m = Vector128.Narrow(oks[0].Value.AsInt64(), oks[1].Value.AsInt64()).AsSingle();
                var ux = Vector128.Narrow(outs[0].Value, outs[6].Value) & m; var uy = Vector128.Narrow(outs[1].Value, outs[7].Value) & m; var uz = Vector128.Narrow(outs[2].Value, outs[8].Value) & m;
                var vx = Vector128.Narrow(outs[3].Value, outs[9].Value) & m; var vy = Vector128.Narrow(outs[4].Value, outs[10].Value) & m; var vz = Vector128.Narrow(outs[5].Value, outs[11].Value) & m;
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

    /// <summary>
    /// The interior part of <see cref="StepRow"/> (2D and 3D), 4 voxels at a time from i0 while the group ends by iEnd:
    /// window sums gathered and the float image differences widened into 4 double lanes, <see cref="CcFormula{T}"/>,
    /// the steps narrowed to float with the flat windows' steps masked to +0, energy terms
    /// subtracted in voxel order; so the bits are the scalar loop's. Returns the next i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    private static unsafe int StepRowSimd(int b, int i0, int iEnd, double cnt, float[] I, float[] J, double[] s, int sBase, double[] w,
        int nx, int sxy, bool twoD, float[] u, float[] v, ref double e)
    {
        var f = new CcFormula<Lanes256>(cnt, w);
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
                f.Step(new(Gather(q, idx5)), new(Gather(q + 1, idx5)), new(Gather(q + 2, idx5)), new(Gather(q + 3, idx5)), new(Gather(q + 4, idx5)),
                    new(ToDouble(Vector128.Load(pI + o))), new(ToDouble(Vector128.Load(pJ + o))),
                    new(ToDouble(Vector128.Load(pI + o + 1) - Vector128.Load(pI + o - 1))),
                    new(ToDouble(Vector128.Load(pI + o + nx) - Vector128.Load(pI + o - nx))),
                    twoD ? Lanes256.Zero : new(ToDouble(Vector128.Load(pI + o + sxy) - Vector128.Load(pI + o - sxy))),
                    new(ToDouble(Vector128.Load(pJ + o + 1) - Vector128.Load(pJ + o - 1))),
                    new(ToDouble(Vector128.Load(pJ + o + nx) - Vector128.Load(pJ + o - nx))),
                    twoD ? Lanes256.Zero : new(ToDouble(Vector128.Load(pJ + o + sxy) - Vector128.Load(pJ + o - sxy))), twoD,
                    out var sux, out var suy, out var suz, out var svx, out var svy, out var svz, out var ok, out var count, out var cc);
                // lane mask from the double compare (all ones / zeros per 64 bits) narrowed to 32-bit lanes
                var m = Vector128.Narrow(ok.Value.AsInt64().GetLower(), ok.Value.AsInt64().GetUpper()).AsSingle();
                var ux = ToSingle(sux.Value) & m; var uy = ToSingle(suy.Value) & m; var uz = ToSingle(suz.Value) & m;
                var vx = ToSingle(svx.Value) & m; var vy = ToSingle(svy.Value) & m; var vz = ToSingle(svz.Value) & m;
                float* du = pu + 3 * o; float* dv = pv + 3 * o;
                Untranspose(ux, uy, uz, out var r0, out var r1, out var r2, out var r3);
                r0.Store(du); r1.Store(du + 3); r2.Store(du + 6); du[9] = r3.GetElement(0); du[10] = r3.GetElement(1); du[11] = r3.GetElement(2);
                Untranspose(vx, vy, vz, out r0, out r1, out r2, out r3);
                r0.Store(dv); r1.Store(dv + 3); r2.Store(dv + 6); dv[9] = r3.GetElement(0); dv[10] = r3.GetElement(1); dv[11] = r3.GetElement(2);
                int cm = (int)Lanes256.ExtractMostSignificantBits(count);
                if (cm != 0)
                {
                    cc.Value.Store(ccs);
                    for (int l = 0; l < 4; l++) if ((cm & (1 << l)) != 0) e -= ccs[l];
                }
            }
        }
        return i;
    }

    /// <summary>
    /// The 3D steps slice by slice (see <see cref="StreamSlices"/>), <see cref="StreamBatch"/> output slices at a time:
    /// one parallel loop computes the window sums (x, then y) of the slices entering the z window, one task per slice,
    /// into ring slot t mod (2r+1+batch); a second one takes the batch's steps, one task per y row, each task running
    /// through the batch's slices in order, updating the row of the running z sum in acc right before that row's steps.
    /// Mirrors RunLines' z pass: acc starts as the sum of slices 0..r-1; slice p adds slice p+r (if any) and subtracts
    /// slice p-r-1 (if any). Two parallel loops per batch of slices, where one per slice would wait on many small loops.
    /// </summary>
    private void StreamSteps(float[] I, float[] J, FieldGrid g, float[] u, float[] v, int maxDegree)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ, r = _radius, batch = StreamBatch, slots = 2 * r + 1 + batch;
        int slice = 5 * nx * ny;
        var ring = Grow(ref _ring, (long)slots * slice);
        var acc = Grow(ref _acc, slice);
        Array.Clear(acc, 0, slice);
        var w = g.W;
        var energy = _rowEnergy;
        var simd = Path;
        // the window sums of slices [from, to): each slice's x sums row by row, then its y sums in place
        void SliceSums(int from, int to)
        {
            if (to <= from) return;
            SliceIterator.For(to - from, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (q) =>
            {
                int t = from + q, off = (t % slots) * slice;
                for (int j = 0; j < ny; j++) BoxRowX(I, J, nx, t * ny + j, r, ring, off + 5 * j * nx);
                RunLines(ring, off, 5 * nx, ny, 5 * nx, r);
            });
        }
        int first = Math.Min(r, nz);
        SliceSums(0, first);
        SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) =>
        {
            for (int t = 0; t < first; t++) AddTo(acc.AsSpan(5 * j * nx, 5 * nx), ring.AsSpan((t % slots) * slice + 5 * j * nx, 5 * nx));
        });
        for (int p0 = 0; p0 < nz; p0 += batch)
        {
            int p1 = Math.Min(nz, p0 + batch);
            // slices p0+r .. p1-1+r enter the window of this batch's output slices
            SliceSums(Math.Min(nz, p0 + r), Math.Min(nz, p1 + r));
            SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) =>
            {
                var row = acc.AsSpan(5 * j * nx, 5 * nx);
                for (int p = p0; p < p1; p++)
                {
                    int add = p + r, sub = p - r - 1;
                    if (add < nz) AddTo(row, ring.AsSpan((add % slots) * slice + 5 * j * nx, 5 * nx));
                    if (sub >= 0) SubtractFrom(row, ring.AsSpan((sub % slots) * slice + 5 * j * nx, 5 * nx));
                    StepRow(p * ny + j, I, J, acc, 5 * p * nx * ny, w, nx, ny, nz, r, false, simd, u, v, energy);
                }
            });
        }
    }

    /// <summary>Output slices per batch of <see cref="StreamSteps"/> (a ring of 2r+1+batch slices of window sums).</summary>
    internal const int StreamBatch = 4;

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        if (_decimated is not null && !twoD) _decimated.Smooth(new[] { u, v }, nx, ny, nz, sig, _truncate, maxDegree);
        else FieldSmoothing.Smooth(new[] { u, v }, 3, nx, ny, nz, sig, maxDegree, _truncate);
        return total;
    }
}
