using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Metrics;

/// <summary>
/// The static samples of one pyramid level: either dense (every voxel of the level grid, bins per voxel) or sparse
/// (world points with their static bins). A bin of 255 marks a voxel outside the static mask.
/// </summary>
internal sealed class MiStaticSamples
{
    public required Grid Grid { get; init; }
    /// <summary>Dense: static bin per level voxel (255 = excluded). Sparse: static bin per sample.</summary>
    public required byte[] Bins { get; init; }
    /// <summary>Sparse only: world points (x, y, z) per sample; null for dense sampling.</summary>
    public double[]? Points { get; init; }
    public bool IsDense => Points is null;
    public int Count => IsDense ? Grid.VoxelCount : Bins.Length;

    /// <summary>Static bin of a normalised intensity: floor, clamped to [2, bins-3] (DIPY's padding of 2 bins).</summary>
    public static byte Bin(double value, double min, double delta, int bins)
    {
        double n = value / delta - (min / delta - 2);
        int b = (int)Math.Floor(n);
        return (byte)Math.Clamp(b, 2, bins - 3);
    }
}

/// <summary>
/// Mattes mutual information between static samples and a moving image resampled through a world map, with its
/// analytic gradient. Parzen joint histogram as DIPY: the static side is a box kernel (one bin), the moving side a cubic
/// B-spline over 4 bins; the intensity range takes bins-4 bins with 2 padding bins on each side.
/// <para>
/// Two passes per evaluation, each parallel over a fixed set of sample blocks whose partials are summed in block order
/// (bit-identical for any thread count): pass 1 builds the joint histogram; pass 2 gives each sample the scalar weight
/// w_s = sum_j B3'(j - cn_s) log(p_ij/q_j) over its 4 taps and sums w_s * gradM_s (x) (x_s - c, 1) in 12 registers.
/// This is the exact derivative sum_ij dp_ij log(p_ij/q_j) (the static marginal does not move and sum dp = 0), at a
/// cost of 12 multiply-adds per sample instead of DIPY's per-bin Jacobian histogram (bins^2 x parameters).
/// </para>
/// </summary>
internal sealed class MattesMutualInformation
{
    private readonly int _bins;
    private readonly MiStaticSamples _static;
    private readonly float[] _moving;
    private readonly float[]? _coefficients;
    private readonly int _mx, _my, _mz;
    private readonly bool _twoD;
    private readonly byte[]? _movingMask;
    private readonly bool _excludeOutside;
    private readonly double _mScale, _mOffset;
    private readonly int _maxDegree;
    private readonly int _blocks;
    private readonly int _lines;
    private readonly double[][] _hist;
    private readonly double[] _grad;
    private readonly long[] _counts;
    private readonly double[] _histTotal;
    private readonly double[] _logRatio;
    /// <summary>Sparse samples: value and moving gradient (v, gx, gy, gz) per sample from pass 1, for pass 2; NaN = not counted.</summary>
    private readonly double[]? _cache;

    /// <param name="moving">Moving intensities on <paramref name="movingGrid"/>.</param>
    /// <param name="movingMin">Minimum of the moving intensities used for binning (inside the moving mask).</param>
    public MattesMutualInformation(int bins, MiStaticSamples samples, float[] moving, Grid movingGrid, double movingMin, double movingMax,
        byte[]? movingMask, int maxDegree, bool excludeOutside = false, float[]? movingCoefficients = null)
    {
        if (movingCoefficients is not null && samples.IsDense)
            throw new ArgumentException("Cubic B-spline interpolation is implemented for sparse (off-grid) samples only.");
        _coefficients = movingCoefficients;
        _excludeOutside = excludeOutside;
        if (bins < 8 || bins > 255) throw new ArgumentOutOfRangeException(nameof(bins), "Bins must be between 8 and 255.");
        _bins = bins;
        _static = samples;
        _moving = moving;
        _mx = movingGrid.NX; _my = movingGrid.NY; _mz = movingGrid.NZ;
        _twoD = movingGrid.Dimension == 2;
        _movingMask = movingMask;
        if (!(movingMax > movingMin)) throw new ArgumentException("The moving image is constant (inside its mask); mutual information is undefined.");
        double delta = (movingMax - movingMin) / (bins - 4);
        _mScale = 1 / delta;
        _mOffset = -(movingMin / delta - 2);
        _maxDegree = maxDegree;
        _lines = samples.IsDense ? samples.Grid.NY * samples.Grid.NZ : samples.Count;
        // The block count depends only on the sample count, never on the thread count.
        _blocks = (int)Math.Clamp(samples.Count / 8192L, 1, 256);
        _blocks = Math.Min(_blocks, _lines);
        int cells = bins * bins;
        _hist = new double[_blocks][];
        for (int b = 0; b < _blocks; b++) _hist[b] = new double[cells];
        _grad = new double[_blocks * 12];
        _counts = new long[_blocks];
        _histTotal = new double[cells];
        _logRatio = new double[cells];
        if (!samples.IsDense) _cache = new double[4L * samples.Count];
    }

    public int Bins => _bins;

    /// <summary>Number of samples counted by the last evaluation.</summary>
    public long LastCount { get; private set; }

    /// <summary>
    /// Mutual information of the static samples and moving(P x), where <paramref name="worldToMovingVoxel"/> maps a static
    /// world point to a continuous moving voxel index. With <paramref name="gradient"/>, h (12 values, row-major 3x4)
    /// receives dMI/dE for a perturbation of the moving sample position dq = E (x - c, 1) (moving voxel units), from which
    /// any parametric transform's gradient follows by the chain rule.
    /// </summary>
    public double Evaluate(Matrix4 worldToMovingVoxel, ReadOnlySpan<double> centre, Span<double> h, bool gradient)
    {
        double c0 = centre[0], c1 = centre[1], c2 = centre[2];
        var p = worldToMovingVoxel;
        Matrix4 g2w = _static.Grid.GridToWorld;
        Matrix4 full = p * g2w;
        int blocks = _blocks, lines = _lines;
        // Pass 1: joint histogram.
        SliceIterator.For(blocks, _maxDegree, b =>
        {
            long begin = (long)lines * b / blocks, end = (long)lines * (b + 1) / blocks;
            var hist = _hist[b];
            Array.Clear(hist);
            _counts[b] = _static.IsDense
                ? DenseBlock((int)begin, (int)end, full, g2w, c0, c1, c2, hist, null)
                : SparseBlock((int)begin, (int)end, p, hist, gradient);
        });
        Array.Clear(_histTotal);
        long n = 0;
        for (int b = 0; b < blocks; b++)
        {
            n += _counts[b];
            var hb = _hist[b];
            for (int i = 0; i < hb.Length; i++) _histTotal[i] += hb[i];
        }
        LastCount = n;
        if (gradient) h.Slice(0, 12).Clear();
        if (n == 0) return 0;
        double mi = Finish(n);
        if (!gradient) return mi;
        // Pass 2: per-sample weights from log(p_ij/q_j), summed against gradM (x) (x - c, 1).
        SliceIterator.For(blocks, _maxDegree, b =>
        {
            long begin = (long)lines * b / blocks, end = (long)lines * (b + 1) / blocks;
            var acc = new double[12];
            if (_static.IsDense) DenseBlock((int)begin, (int)end, full, g2w, c0, c1, c2, null, acc);
            else SparseGrad((int)begin, (int)end, c0, c1, c2, acc);
            Array.Copy(acc, 0, _grad, b * 12, 12);
        });
        double f = -_mScale / n;
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < 12; k++) h[k] += _grad[b * 12 + k];
        for (int k = 0; k < 12; k++) h[k] *= f;
        return mi;
    }

    /// <summary>MI from the joint histogram; fills log(p_ij/q_j) (0 for empty cells) for the gradient pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double Finish(long n)
    {
        const double eps = 2.220446049250313e-16;
        int nb = _bins;
        double inv = 1.0 / n;
        Span<double> pStatic = stackalloc double[nb];
        Span<double> pMoving = stackalloc double[nb];
        pStatic.Clear(); pMoving.Clear();
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < nb; j++)
            {
                double v = _histTotal[i * nb + j] * inv;
                pStatic[i] += v;
                pMoving[j] += v;
            }
        double mi = 0;
        Array.Clear(_logRatio);
        for (int i = 0; i < nb; i++)
        {
            if (pStatic[i] < eps) continue;
            double logPi = Math.Log(pStatic[i]);
            for (int j = 0; j < nb; j++)
            {
                double pij = _histTotal[i * nb + j] * inv;
                if (pij < eps || pMoving[j] < eps) continue;
                double l = Math.Log(pij / pMoving[j]);
                _logRatio[i * nb + j] = l;
                mi += pij * (l - logPi);
            }
        }
        return mi;
    }

    /// <summary>
    /// Pass 1, one sample: adds the 4 cubic B-spline weights of the moving value to row staticBin, taps j = c-1..c+2
    /// with f = cn - c, using the closed forms of B3 (no branches per tap).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void HistAdd(double* hist, int staticBin, double v)
    {
        int nb = _bins;
        double cn = v * _mScale + _mOffset;
        if (cn < 2) cn = 2;
        else if (cn > nb - 2) cn = nb - 2;
        int c = (int)cn;
        if (c > nb - 3) c = nb - 3;
        double f = cn - c, g = 1 - f, f2 = f * f, f3 = f2 * f;
        double* hr = hist + staticBin * nb + c - 1;
        hr[0] += g * g * g * (1.0 / 6);
        hr[1] += (4 - 6 * f2 + 3 * f3) * (1.0 / 6);
        hr[2] += (1 + 3 * f + 3 * f2 - 3 * f3) * (1.0 / 6);
        hr[3] += f3 * (1.0 / 6);
    }

    /// <summary>
    /// Pass 2, one sample: w = sum over the 4 taps of B3'(j - cn) log(p_ij/q_j); 0 when the value was clamped to the
    /// histogram's range (it then does not move with the transform).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe double Weight(double* logRatio, int staticBin, double v)
    {
        int nb = _bins;
        double cn = v * _mScale + _mOffset;
        if (cn < 2 || cn > nb - 2) return 0;
        int c = (int)cn;
        if (c > nb - 3) c = nb - 3;
        double f = cn - c, g = 1 - f, f2 = f * f;
        double* l = logRatio + staticBin * nb + c - 1;
        return 0.5 * g * g * l[0] + (2 * f - 1.5 * f2) * l[1] + (-2 * g + 1.5 * g * g) * l[2] - 0.5 * f2 * l[3];
    }

    /// <summary>
    /// Moving-mask test by nearest neighbour on [0, n-1] (DIPY warps the mask with nearest interpolation); without a mask
    /// (only called when outside samples are excluded) it tests that the point lies inside the moving image, [0, n-1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InMovingMask(double x, double y, double z)
    {
        const double tol = 1e-6;
        if (x < -tol || y < -tol || x > _mx - 1 + tol || y > _my - 1 + tol) return false;
        if (!_twoD && (z < -tol || z > _mz - 1 + tol)) return false;
        if (_movingMask is null) return true;
        int i = Math.Clamp((int)Math.Ceiling(x - 0.5), 0, _mx - 1);
        int j = Math.Clamp((int)Math.Ceiling(y - 0.5), 0, _my - 1);
        int k = _twoD ? 0 : Math.Clamp((int)Math.Ceiling(z - 0.5), 0, _mz - 1);
        return _movingMask[((long)k * _my + j) * _mx + i] != 0;
    }

    private unsafe long DenseBlock(int begin, int end, Matrix4 full, Matrix4 g2w, double c0, double c1, double c2,
        double[]? histArr, double[]? accArr)
    {
        fixed (float* m = _moving)
        {
            if (_twoD)
            {
                var s = new Bilinear(m, _mx, _my);
                return histArr is not null ? DenseHist(s, begin, end, full, histArr) : DenseGrad(s, begin, end, full, g2w, c0, c1, c2, accArr!);
            }
            var t = new Trilinear(m, _mx, _my, _mz);
            return histArr is not null ? DenseHist(t, begin, end, full, histArr) : DenseGrad(t, begin, end, full, g2w, c0, c1, c2, accArr!);
        }
    }

    private unsafe long SparseBlock(int begin, int end, Matrix4 p, double[] histArr, bool store)
    {
        fixed (float* m = _moving)
        fixed (float* cf = _coefficients)
        fixed (double* cache = _cache)
        {
            double* c = store ? cache : null;
            if (cf is not null)
            {
                if (_twoD) return SparseHist(new CubicBSpline2(cf, m, _mx, _my), begin, end, p, histArr, c);
                return SparseHist(new CubicBSpline3(cf, m, _mx, _my, _mz), begin, end, p, histArr, c);
            }
            if (_twoD) return SparseHist(new Bilinear(m, _mx, _my), begin, end, p, histArr, c);
            return SparseHist(new Trilinear(m, _mx, _my, _mz), begin, end, p, histArr, c);
        }
    }

    /// <summary>
    /// Dense pass 1 over static lines [begin, end) of the level grid: each line's moving coordinates are q0 + i dq (no
    /// matrix product per voxel), the moving value is interpolated (zero padding: samples in (-1, n) blend their
    /// in-image corners with zeros, samples further out count with intensity 0, as dense DIPY counts every static voxel)
    /// and its 4 B-spline taps are added to this block's histogram. Specialised per sampler (a struct), so the
    /// interpolation is inlined; no allocation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe long DenseHist<TS>(TS sampler, int begin, int end, Matrix4 full, double[] histArr) where TS : struct, IMovingSampler
    {
        var grid = _static.Grid;
        int nx = grid.NX, ny = grid.NY;
        double qdx = full[0, 0], qdy = full[1, 0], qdz = full[2, 0];
        bool masked = _movingMask is not null || _excludeOutside;
        long count = 0;
        fixed (byte* bins = _static.Bins)
        fixed (double* hist = histArr)
        {
            for (int line = begin; line < end; line++)
            {
                int k = line / ny, j = line % ny;
                var (qx0, qy0, qz0) = full.Apply(0, j, k);
                byte* rowBins = bins + (long)line * nx;
                for (int i = 0; i < nx; i++)
                {
                    int sb = rowBins[i];
                    if (sb == 255) continue;
                    double qx = qx0 + qdx * i, qy = qy0 + qdy * i, qz = qz0 + qdz * i;
                    if (masked && !InMovingMask(qx, qy, qz)) continue;
                    count++;
                    HistAdd(hist, sb, sampler.Value(qx, qy, qz));
                }
            }
        }
        return count;
    }

    /// <summary>
    /// Dense pass 2: the same walk as pass 1; value and exact interpolant gradient from the same corners, the sample's
    /// weight from log(p_ij/q_j), and w * grad (x) (x - c, 1) summed in 12 registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe long DenseGrad<TS>(TS sampler, int begin, int end, Matrix4 full, Matrix4 g2w, double c0, double c1, double c2,
        double[] accArr) where TS : struct, IMovingSampler
    {
        var grid = _static.Grid;
        int nx = grid.NX, ny = grid.NY;
        double qdx = full[0, 0], qdy = full[1, 0], qdz = full[2, 0];
        double wdx = g2w[0, 0], wdy = g2w[1, 0], wdz = g2w[2, 0];
        bool masked = _movingMask is not null || _excludeOutside;
        long count = 0;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0;
        fixed (byte* bins = _static.Bins)
        fixed (double* logRatio = _logRatio)
        {
            for (int line = begin; line < end; line++)
            {
                int k = line / ny, j = line % ny;
                var (qx0, qy0, qz0) = full.Apply(0, j, k);
                var (wx0, wy0, wz0) = g2w.Apply(0, j, k);
                byte* rowBins = bins + (long)line * nx;
                for (int i = 0; i < nx; i++)
                {
                    int sb = rowBins[i];
                    if (sb == 255) continue;
                    double qx = qx0 + qdx * i, qy = qy0 + qdy * i, qz = qz0 + qdz * i;
                    if (masked && !InMovingMask(qx, qy, qz)) continue;
                    count++;
                    double v = sampler.ValueGradient(qx, qy, qz, out double gx, out double gy, out double gz);
                    double w = Weight(logRatio, sb, v);
                    if (w == 0) continue;
                    double dx = wx0 + wdx * i - c0, dy = wy0 + wdy * i - c1, dz = wz0 + wdz * i - c2;
                    double ux = w * gx, uy = w * gy, uz = w * gz;
                    a0 += ux * dx; a1 += ux * dy; a2 += ux * dz; a3 += ux;
                    a4 += uy * dx; a5 += uy * dy; a6 += uy * dz; a7 += uy;
                    a8 += uz * dx; a9 += uz * dy; a10 += uz * dz; a11 += uz;
                }
            }
        }
        accArr[0] = a0; accArr[1] = a1; accArr[2] = a2; accArr[3] = a3; accArr[4] = a4; accArr[5] = a5;
        accArr[6] = a6; accArr[7] = a7; accArr[8] = a8; accArr[9] = a9; accArr[10] = a10; accArr[11] = a11;
        return count;
    }

    /// <summary>
    /// Sparse pass 1 over samples [begin, end): pass 1's arithmetic at stored (jittered) world points. With a cache, the
    /// value and the interpolant's gradient are computed together and kept for pass 2 (the value is the same number
    /// Value gives), so each evaluation interpolates every sample once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe long SparseHist<TS>(TS sampler, int begin, int end, Matrix4 p, double[] histArr, double* cache) where TS : struct, IMovingSampler
    {
        var pts = _static.Points!;
        double p00 = p[0, 0], p01 = p[0, 1], p02 = p[0, 2], p03 = p[0, 3];
        double p10 = p[1, 0], p11 = p[1, 1], p12 = p[1, 2], p13 = p[1, 3];
        double p20 = p[2, 0], p21 = p[2, 1], p22 = p[2, 2], p23 = p[2, 3];
        bool masked = _movingMask is not null || _excludeOutside;
        long count = 0;
        fixed (byte* bins = _static.Bins)
        fixed (double* hist = histArr)
        {
            for (int s = begin; s < end; s++)
            {
                int sb = bins[s];
                if (cache is not null) cache[4L * s] = double.NaN;
                if (sb == 255) continue;
                double x = pts[3 * s], y = pts[3 * s + 1], z = pts[3 * s + 2];
                double qx = p00 * x + p01 * y + p02 * z + p03;
                double qy = p10 * x + p11 * y + p12 * z + p13;
                double qz = p20 * x + p21 * y + p22 * z + p23;
                if (masked && !InMovingMask(qx, qy, qz)) continue;
                count++;
                if (cache is null)
                {
                    HistAdd(hist, sb, sampler.Value(qx, qy, qz));
                    continue;
                }
                double v = sampler.ValueGradient(qx, qy, qz, out double gx, out double gy, out double gz);
                double* c = cache + 4L * s;
                c[0] = v; c[1] = gx; c[2] = gy; c[3] = gz;
                HistAdd(hist, sb, v);
            }
        }
        return count;
    }

    /// <summary>Sparse pass 2 over samples [begin, end): pass 2's arithmetic from the values and gradients pass 1 kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void SparseGrad(int begin, int end, double c0, double c1, double c2, double[] accArr)
    {
        var pts = _static.Points!;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0;
        fixed (byte* bins = _static.Bins)
        fixed (double* logRatio = _logRatio)
        fixed (double* cache = _cache)
        {
            for (int s = begin; s < end; s++)
            {
                double* c = cache + 4L * s;
                double v = c[0];
                if (double.IsNaN(v)) continue;
                double w = Weight(logRatio, bins[s], v);
                if (w == 0) continue;
                double dx = pts[3 * s] - c0, dy = pts[3 * s + 1] - c1, dz = pts[3 * s + 2] - c2;
                double ux = w * c[1], uy = w * c[2], uz = w * c[3];
                a0 += ux * dx; a1 += ux * dy; a2 += ux * dz; a3 += ux;
                a4 += uy * dx; a5 += uy * dy; a6 += uy * dz; a7 += uy;
                a8 += uz * dx; a9 += uz * dy; a10 += uz * dz; a11 += uz;
            }
        }
        accArr[0] = a0; accArr[1] = a1; accArr[2] = a2; accArr[3] = a3; accArr[4] = a4; accArr[5] = a5;
        accArr[6] = a6; accArr[7] = a7; accArr[8] = a8; accArr[9] = a9; accArr[10] = a10; accArr[11] = a11;
    }
}

/// <summary>Interpolation of the moving image at a continuous voxel index (a struct, so kernels specialise and inline it).</summary>
internal interface IMovingSampler
{
    double Value(double x, double y, double z);
    double ValueGradient(double x, double y, double z, out double gx, out double gy, out double gz);
}

/// <summary>
/// Zero-padded trilinear interpolation (DIPY's rule): corners outside the image count as 0, so points in (-1, n) still
/// get their in-bounds corners; points further out are 0 with gradient 0. The gradient is the exact derivative of the
/// interpolant (moving voxel units) from the same 8 corners, and Value uses the same arithmetic as ValueGradient.
/// </summary>
internal readonly unsafe struct Trilinear : IMovingSampler
{
    private readonly float* _m;
    private readonly int _nx, _ny, _nz;
    public Trilinear(float* m, int nx, int ny, int nz) { _m = m; _nx = nx; _ny = ny; _nz = nz; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double At(int i, int j, int k) =>
        (uint)i < (uint)_nx && (uint)j < (uint)_ny && (uint)k < (uint)_nz ? _m[((long)k * _ny + j) * _nx + i] : 0.0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Corners(int i0, int j0, int k0, out double c000, out double c100, out double c010, out double c110,
        out double c001, out double c101, out double c011, out double c111)
    {
        int nx = _nx;
        if (i0 >= 0 && j0 >= 0 && k0 >= 0 && i0 < nx - 1 && j0 < _ny - 1 && k0 < _nz - 1)
        {
            long sxy = (long)nx * _ny;
            float* p = _m + k0 * sxy + (long)j0 * nx + i0;
            c000 = p[0]; c100 = p[1]; c010 = p[nx]; c110 = p[nx + 1];
            float* q = p + sxy;
            c001 = q[0]; c101 = q[1]; c011 = q[nx]; c111 = q[nx + 1];
        }
        else
        {
            c000 = At(i0, j0, k0); c100 = At(i0 + 1, j0, k0); c010 = At(i0, j0 + 1, k0); c110 = At(i0 + 1, j0 + 1, k0);
            c001 = At(i0, j0, k0 + 1); c101 = At(i0 + 1, j0, k0 + 1); c011 = At(i0, j0 + 1, k0 + 1); c111 = At(i0 + 1, j0 + 1, k0 + 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Value(double x, double y, double z)
    {
        if (!(x > -1 && y > -1 && z > -1 && x < _nx && y < _ny && z < _nz)) return 0;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
        double fx = x - i0, fy = y - j0, fz = z - k0;
        Corners(i0, j0, k0, out var c000, out var c100, out var c010, out var c110, out var c001, out var c101, out var c011, out var c111);
        double ex = 1 - fx, ey = 1 - fy, ez = 1 - fz;
        double a00 = ex * c000 + fx * c100, a10 = ex * c010 + fx * c110, a01 = ex * c001 + fx * c101, a11 = ex * c011 + fx * c111;
        double b0 = ey * a00 + fy * a10, b1 = ey * a01 + fy * a11;
        return ez * b0 + fz * b1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double ValueGradient(double x, double y, double z, out double gx, out double gy, out double gz)
    {
        gx = gy = gz = 0;
        if (!(x > -1 && y > -1 && z > -1 && x < _nx && y < _ny && z < _nz)) return 0;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
        double fx = x - i0, fy = y - j0, fz = z - k0;
        Corners(i0, j0, k0, out var c000, out var c100, out var c010, out var c110, out var c001, out var c101, out var c011, out var c111);
        double ex = 1 - fx, ey = 1 - fy, ez = 1 - fz;
        double a00 = ex * c000 + fx * c100, a10 = ex * c010 + fx * c110, a01 = ex * c001 + fx * c101, a11 = ex * c011 + fx * c111;
        double b0 = ey * a00 + fy * a10, b1 = ey * a01 + fy * a11;
        gz = b1 - b0;
        gy = ez * (a10 - a00) + fz * (a11 - a01);
        gx = ez * (ey * (c100 - c000) + fy * (c110 - c010)) + fz * (ey * (c101 - c001) + fy * (c111 - c011));
        return ez * b0 + fz * b1;
    }
}

/// <summary>Zero-padded bilinear interpolation in one slice (2D images), with the rules of <see cref="Trilinear"/>; z is ignored.</summary>
internal readonly unsafe struct Bilinear : IMovingSampler
{
    private readonly float* _m;
    private readonly int _nx, _ny;
    public Bilinear(float* m, int nx, int ny) { _m = m; _nx = nx; _ny = ny; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double At(int i, int j) => (uint)i < (uint)_nx && (uint)j < (uint)_ny ? _m[(long)j * _nx + i] : 0.0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Corners(int i0, int j0, out double c00, out double c10, out double c01, out double c11)
    {
        int nx = _nx;
        if (i0 >= 0 && j0 >= 0 && i0 < nx - 1 && j0 < _ny - 1)
        {
            float* p = _m + (long)j0 * nx + i0;
            c00 = p[0]; c10 = p[1]; c01 = p[nx]; c11 = p[nx + 1];
        }
        else
        {
            c00 = At(i0, j0); c10 = At(i0 + 1, j0); c01 = At(i0, j0 + 1); c11 = At(i0 + 1, j0 + 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Value(double x, double y, double z)
    {
        if (!(x > -1 && y > -1 && x < _nx && y < _ny)) return 0;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
        double fx = x - i0, fy = y - j0;
        Corners(i0, j0, out var c00, out var c10, out var c01, out var c11);
        double ex = 1 - fx, ey = 1 - fy;
        double a0 = ex * c00 + fx * c10, a1 = ex * c01 + fx * c11;
        return ey * a0 + fy * a1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double ValueGradient(double x, double y, double z, out double gx, out double gy, out double gz)
    {
        gx = gy = gz = 0;
        if (!(x > -1 && y > -1 && x < _nx && y < _ny)) return 0;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
        double fx = x - i0, fy = y - j0;
        Corners(i0, j0, out var c00, out var c10, out var c01, out var c11);
        double ex = 1 - fx, ey = 1 - fy;
        double a0 = ex * c00 + fx * c10, a1 = ex * c01 + fx * c11;
        gy = a1 - a0;
        gx = ey * (c10 - c00) + fy * (c11 - c01);
        return ey * a0 + fy * a1;
    }
}

/// <summary>
/// Cubic B-spline interpolation from prefiltered coefficients (<see cref="Filters.BSplinePrefilter"/>), value and exact
/// gradient from the same 4x4x4 taps, mirror-symmetric taps at the edges. Inside the box [0, n-1] on every axis the
/// interpolant passes through the samples; outside it, the point falls back to the zero-padded trilinear rule of
/// <see cref="Trilinear"/> on the samples (which agrees with the spline on the box's faces' voxels), so samples leave
/// the image smoothly. Taps: w(t) = ((1-t)^3, 3t^3 - 6t^2 + 4, -3t^3 + 3t^2 + 3t + 1, t^3) / 6 for offsets -1..2.
/// Points whose 4x4x4 taps are all inside take a SIMD path (cross-platform Vector256: AVX on x64, two NEON halves on
/// arm64) that sums in another order, so its last bits differ from the scalar path's; which path a point takes depends
/// only on the point, never on the thread count.
/// </summary>
internal readonly unsafe struct CubicBSpline3 : IMovingSampler
{
    private readonly float* _c;
    private readonly Trilinear _outside;
    private readonly int _nx, _ny, _nz;
    public CubicBSpline3(float* coefficients, float* samples, int nx, int ny, int nz)
    {
        _c = coefficients; _outside = new Trilinear(samples, nx, ny, nz); _nx = nx; _ny = ny; _nz = nz;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Weights(double t, out double w0, out double w1, out double w2, out double w3)
    {
        double u = 1 - t, t2 = t * t, t3 = t2 * t;
        w0 = u * u * u * (1.0 / 6);
        w1 = (3 * t3 - 6 * t2 + 4) * (1.0 / 6);
        w2 = (-3 * t3 + 3 * t2 + 3 * t + 1) * (1.0 / 6);
        w3 = t3 * (1.0 / 6);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Derivatives(double t, out double d0, out double d1, out double d2, out double d3)
    {
        double u = 1 - t, t2 = t * t;
        d0 = -0.5 * u * u;
        d1 = 1.5 * t2 - 2 * t;
        d2 = -1.5 * t2 + t + 0.5;
        d3 = 0.5 * t2;
    }

    /// <summary>The 4 tap indices i-1..i+2 mirrored into [0, n-1] (whole-sample mirror, as the prefilter).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Taps(int i, int n, out int a, out int b, out int c, out int d)
    {
        if (i >= 1 && i + 2 < n) { a = i - 1; b = i; c = i + 1; d = i + 2; return; }
        a = Mirror(i - 1, n); b = Mirror(i, n); c = Mirror(i + 1, n); d = Mirror(i + 2, n);
    }

    /// <summary>Whole-sample mirror of index i (from -1 to n + 1) into [0, n - 1], as the prefilter's boundary.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Mirror(int i, int n)
    {
        if (n == 1) return 0;
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        return Math.Clamp(i, 0, n - 1);
    }

    /// <summary>
    /// The value alone (SyN's cubic warp), with <see cref="ValueGradient"/>'s operations for it in the same order, so it
    /// is that value bit for bit, at a third of the work.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public double Value(double x, double y, double z)
    {
        if (!(x >= 0 && y >= 0 && z >= 0 && x <= _nx - 1 && y <= _ny - 1 && z <= _nz - 1))
            return _outside.Value(x, y, z);
        int i = (int)x, j = (int)y, k = (int)z;
        double tx = x - i, ty = y - j, tz = z - k;
        Weights(tx, out var wx0, out var wx1, out var wx2, out var wx3);
        Weights(ty, out var wy0, out var wy1, out var wy2, out var wy3);
        Weights(tz, out var wz0, out var wz1, out var wz2, out var wz3);
        long plane = (long)_nx * _ny;
        if (Vector256.IsHardwareAccelerated && i >= 1 && j >= 1 && k >= 1 && i + 2 < _nx && j + 2 < _ny && k + 2 < _nz)
        {
            float* p0 = _c + (k - 1) * plane + (long)(j - 1) * _nx + (i - 1);
            var sv = Vector256<double>.Zero;
            for (int q = 0; q < 4; q++)
            {
                double wz = q == 0 ? wz0 : q == 1 ? wz1 : q == 2 ? wz2 : wz3;
                float* pq = p0 + q * plane;
                for (int r = 0; r < 4; r++)
                {
                    double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
                    var c4 = Vector128.Load(pq + (long)r * _nx);
                    var cd = Vector256.Create(Vector128.WidenLower(c4), Vector128.WidenUpper(c4));
                    sv += cd * Vector256.Create(wy * wz);
                }
            }
            return Vector256.Sum(sv * Vector256.Create(wx0, wx1, wx2, wx3));
        }
        Taps(i, _nx, out int xa, out int xb, out int xc, out int xd);
        Taps(j, _ny, out int ya, out int yb, out int yc, out int yd);
        Taps(k, _nz, out int za, out int zb, out int zc, out int zd);
        double v = 0;
        for (int q = 0; q < 4; q++)
        {
            int kk = q == 0 ? za : q == 1 ? zb : q == 2 ? zc : zd;
            double wz = q == 0 ? wz0 : q == 1 ? wz1 : q == 2 ? wz2 : wz3;
            double pv = 0;
            for (int r = 0; r < 4; r++)
            {
                int jj = r == 0 ? ya : r == 1 ? yb : r == 2 ? yc : yd;
                double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
                float* row = _c + kk * plane + (long)jj * _nx;
                double c0 = row[xa], c1 = row[xb], c2 = row[xc], c3 = row[xd];
                pv += wy * (wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3);
            }
            v += wz * pv;
        }
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public double ValueGradient(double x, double y, double z, out double gx, out double gy, out double gz)
    {
        if (!(x >= 0 && y >= 0 && z >= 0 && x <= _nx - 1 && y <= _ny - 1 && z <= _nz - 1))
            return _outside.ValueGradient(x, y, z, out gx, out gy, out gz);
        int i = (int)x, j = (int)y, k = (int)z;
        double tx = x - i, ty = y - j, tz = z - k;
        Weights(tx, out var wx0, out var wx1, out var wx2, out var wx3);
        Derivatives(tx, out var dx0, out var dx1, out var dx2, out var dx3);
        Weights(ty, out var wy0, out var wy1, out var wy2, out var wy3);
        Derivatives(ty, out var dy0, out var dy1, out var dy2, out var dy3);
        Weights(tz, out var wz0, out var wz1, out var wz2, out var wz3);
        Derivatives(tz, out var dz0, out var dz1, out var dz2, out var dz3);
        long plane = (long)_nx * _ny;
        if (Vector256.IsHardwareAccelerated && i >= 1 && j >= 1 && k >= 1 && i + 2 < _nx && j + 2 < _ny && k + 2 < _nz)
        {
            // Interior: the 4 x-taps of each of the 16 (y, z) rows are contiguous. Sum the rows weighted by wy wz (for
            // the value and d/dx), dy wz (d/dy) and wy dz (d/dz) as 4-lane double vectors, then dot each with the x
            // weights or derivatives: 48 vector multiply-adds instead of about 200 scalar operations.
            float* p0 = _c + (k - 1) * plane + (long)(j - 1) * _nx + (i - 1);
            var sv = Vector256<double>.Zero;
            var sy = Vector256<double>.Zero;
            var sz = Vector256<double>.Zero;
            for (int q = 0; q < 4; q++)
            {
                double wz = q == 0 ? wz0 : q == 1 ? wz1 : q == 2 ? wz2 : wz3;
                double dz = q == 0 ? dz0 : q == 1 ? dz1 : q == 2 ? dz2 : dz3;
                float* pq = p0 + q * plane;
                for (int r = 0; r < 4; r++)
                {
                    double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
                    double dy = r == 0 ? dy0 : r == 1 ? dy1 : r == 2 ? dy2 : dy3;
                    var c4 = Vector128.Load(pq + (long)r * _nx);
                    var cd = Vector256.Create(Vector128.WidenLower(c4), Vector128.WidenUpper(c4));
                    sv += cd * Vector256.Create(wy * wz);
                    sy += cd * Vector256.Create(dy * wz);
                    sz += cd * Vector256.Create(wy * dz);
                }
            }
            var wxv = Vector256.Create(wx0, wx1, wx2, wx3);
            var dxv = Vector256.Create(dx0, dx1, dx2, dx3);
            gx = Vector256.Sum(sv * dxv);
            gy = Vector256.Sum(sy * wxv);
            gz = Vector256.Sum(sz * wxv);
            return Vector256.Sum(sv * wxv);
        }
        Taps(i, _nx, out int xa, out int xb, out int xc, out int xd);
        Taps(j, _ny, out int ya, out int yb, out int yc, out int yd);
        Taps(k, _nz, out int za, out int zb, out int zc, out int zd);
        double v = 0, ax = 0, ay = 0, az = 0;
        for (int q = 0; q < 4; q++)
        {
            int kk = q == 0 ? za : q == 1 ? zb : q == 2 ? zc : zd;
            double wz = q == 0 ? wz0 : q == 1 ? wz1 : q == 2 ? wz2 : wz3;
            double dz = q == 0 ? dz0 : q == 1 ? dz1 : q == 2 ? dz2 : dz3;
            double pv = 0, px = 0, py = 0;
            for (int r = 0; r < 4; r++)
            {
                int jj = r == 0 ? ya : r == 1 ? yb : r == 2 ? yc : yd;
                double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
                double dy = r == 0 ? dy0 : r == 1 ? dy1 : r == 2 ? dy2 : dy3;
                float* row = _c + kk * plane + (long)jj * _nx;
                double c0 = row[xa], c1 = row[xb], c2 = row[xc], c3 = row[xd];
                double rv = wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3;
                double rd = dx0 * c0 + dx1 * c1 + dx2 * c2 + dx3 * c3;
                pv += wy * rv; px += wy * rd; py += dy * rv;
            }
            v += wz * pv; ax += wz * px; ay += wz * py; az += dz * pv;
        }
        gx = ax; gy = ay; gz = az;
        return v;
    }
}

/// <summary>The 2D counterpart of <see cref="CubicBSpline3"/> (4x4 taps in one slice; z is ignored).</summary>
internal readonly unsafe struct CubicBSpline2 : IMovingSampler
{
    private readonly float* _c;
    private readonly Bilinear _outside;
    private readonly int _nx, _ny;
    public CubicBSpline2(float* coefficients, float* samples, int nx, int ny)
    {
        _c = coefficients; _outside = new Bilinear(samples, nx, ny); _nx = nx; _ny = ny;
    }

    /// <summary>The value alone, with <see cref="ValueGradient"/>'s operations for it in the same order (the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public double Value(double x, double y, double z)
    {
        if (!(x >= 0 && y >= 0 && x <= _nx - 1 && y <= _ny - 1))
            return _outside.Value(x, y, z);
        int i = (int)x, j = (int)y;
        double tx = x - i, ty = y - j;
        CubicBSpline3.Weights(tx, out var wx0, out var wx1, out var wx2, out var wx3);
        CubicBSpline3.Weights(ty, out var wy0, out var wy1, out var wy2, out var wy3);
        CubicBSpline3.Taps(i, _nx, out int xa, out int xb, out int xc, out int xd);
        CubicBSpline3.Taps(j, _ny, out int ya, out int yb, out int yc, out int yd);
        double v = 0;
        for (int r = 0; r < 4; r++)
        {
            int jj = r == 0 ? ya : r == 1 ? yb : r == 2 ? yc : yd;
            double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
            float* row = _c + (long)jj * _nx;
            double c0 = row[xa], c1 = row[xb], c2 = row[xc], c3 = row[xd];
            v += wy * (wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3);
        }
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public double ValueGradient(double x, double y, double z, out double gx, out double gy, out double gz)
    {
        if (!(x >= 0 && y >= 0 && x <= _nx - 1 && y <= _ny - 1))
            return _outside.ValueGradient(x, y, z, out gx, out gy, out gz);
        int i = (int)x, j = (int)y;
        double tx = x - i, ty = y - j;
        CubicBSpline3.Weights(tx, out var wx0, out var wx1, out var wx2, out var wx3);
        CubicBSpline3.Derivatives(tx, out var dx0, out var dx1, out var dx2, out var dx3);
        CubicBSpline3.Weights(ty, out var wy0, out var wy1, out var wy2, out var wy3);
        CubicBSpline3.Derivatives(ty, out var dy0, out var dy1, out var dy2, out var dy3);
        CubicBSpline3.Taps(i, _nx, out int xa, out int xb, out int xc, out int xd);
        CubicBSpline3.Taps(j, _ny, out int ya, out int yb, out int yc, out int yd);
        double v = 0, ax = 0, ay = 0;
        for (int r = 0; r < 4; r++)
        {
            int jj = r == 0 ? ya : r == 1 ? yb : r == 2 ? yc : yd;
            double wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
            double dy = r == 0 ? dy0 : r == 1 ? dy1 : r == 2 ? dy2 : dy3;
            float* row = _c + (long)jj * _nx;
            double c0 = row[xa], c1 = row[xb], c2 = row[xc], c3 = row[xd];
            double rv = wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3;
            double rd = dx0 * c0 + dx1 * c1 + dx2 * c2 + dx3 * c3;
            v += wy * rv; ax += wy * rd; ay += dy * rv;
        }
        gx = ax; gy = ay; gz = 0;
        return v;
    }
}
