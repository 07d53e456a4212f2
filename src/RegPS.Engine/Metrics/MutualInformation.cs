using System.Runtime.CompilerServices;
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
    private readonly int _mx, _my, _mz;
    private readonly bool _twoD;
    private readonly byte[]? _movingMask;
    private readonly double _mScale, _mOffset;
    private readonly int _maxDegree;
    private readonly int _blocks;
    private readonly int _lines;
    private readonly double[][] _hist;
    private readonly double[] _grad;
    private readonly long[] _counts;
    private readonly double[] _histTotal;
    private readonly double[] _logRatio;

    /// <param name="moving">Moving intensities on <paramref name="movingGrid"/>.</param>
    /// <param name="movingMin">Minimum of the moving intensities used for binning (inside the moving mask).</param>
    public MattesMutualInformation(int bins, MiStaticSamples samples, float[] moving, Grid movingGrid, double movingMin, double movingMax,
        byte[]? movingMask, int maxDegree)
    {
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
                : SparseBlock((int)begin, (int)end, p, c0, c1, c2, hist, null);
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
            else SparseBlock((int)begin, (int)end, p, c0, c1, c2, null, acc);
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
    /// Zero-padded trilinear value and its exact gradient (moving voxel units) at continuous index (x, y, z):
    /// corners outside the image count as 0, so points in (-1, n) still get their in-bounds corners (DIPY's rule).
    /// Returns false when the point is outside (-1, n) on some axis (value and gradient 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe bool Sample3(float* m, double x, double y, double z, out double v, out double gx, out double gy, out double gz)
    {
        int nx = _mx, ny = _my, nz = _mz;
        v = gx = gy = gz = 0;
        if (!(x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz)) return false;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
        double fx = x - i0, fy = y - j0, fz = z - k0;
        double c000, c100, c010, c110, c001, c101, c011, c111;
        long sxy = (long)nx * ny;
        if (i0 >= 0 && j0 >= 0 && k0 >= 0 && i0 < nx - 1 && j0 < ny - 1 && k0 < nz - 1)
        {
            float* p = m + k0 * sxy + (long)j0 * nx + i0;
            c000 = p[0]; c100 = p[1]; c010 = p[nx]; c110 = p[nx + 1];
            float* q = p + sxy;
            c001 = q[0]; c101 = q[1]; c011 = q[nx]; c111 = q[nx + 1];
        }
        else
        {
            c000 = At(m, i0, j0, k0); c100 = At(m, i0 + 1, j0, k0); c010 = At(m, i0, j0 + 1, k0); c110 = At(m, i0 + 1, j0 + 1, k0);
            c001 = At(m, i0, j0, k0 + 1); c101 = At(m, i0 + 1, j0, k0 + 1); c011 = At(m, i0, j0 + 1, k0 + 1); c111 = At(m, i0 + 1, j0 + 1, k0 + 1);
        }
        double ex = 1 - fx, ey = 1 - fy, ez = 1 - fz;
        // Interpolate along x first, then y, then z; gradients from the same corner values.
        double a00 = ex * c000 + fx * c100, a10 = ex * c010 + fx * c110, a01 = ex * c001 + fx * c101, a11 = ex * c011 + fx * c111;
        double b0 = ey * a00 + fy * a10, b1 = ey * a01 + fy * a11;
        v = ez * b0 + fz * b1;
        gz = b1 - b0;
        gy = ez * (a10 - a00) + fz * (a11 - a01);
        gx = ez * (ey * (c100 - c000) + fy * (c110 - c010)) + fz * (ey * (c101 - c001) + fy * (c111 - c011));
        return true;
    }

    /// <summary>Value-only zero-padded trilinear/bilinear sample (pass 1); same arithmetic as the value in Sample3/Sample2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe double Value(float* m, double x, double y, double z)
    {
        int nx = _mx, ny = _my;
        if (_twoD)
        {
            if (!(x > -1 && y > -1 && x < nx && y < ny)) return 0;
            int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
            double fx = x - i0, fy = y - j0;
            double c00, c10, c01, c11;
            if (i0 >= 0 && j0 >= 0 && i0 < nx - 1 && j0 < ny - 1)
            {
                float* p = m + (long)j0 * nx + i0;
                c00 = p[0]; c10 = p[1]; c01 = p[nx]; c11 = p[nx + 1];
            }
            else
            {
                c00 = At(m, i0, j0, 0); c10 = At(m, i0 + 1, j0, 0); c01 = At(m, i0, j0 + 1, 0); c11 = At(m, i0 + 1, j0 + 1, 0);
            }
            double ex = 1 - fx;
            double a0 = ex * c00 + fx * c10, a1 = ex * c01 + fx * c11;
            return (1 - fy) * a0 + fy * a1;
        }
        else
        {
            int nz = _mz;
            if (!(x > -1 && y > -1 && z > -1 && x < nx && y < ny && z < nz)) return 0;
            int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
            double fx = x - i0, fy = y - j0, fz = z - k0;
            double c000, c100, c010, c110, c001, c101, c011, c111;
            long sxy = (long)nx * ny;
            if (i0 >= 0 && j0 >= 0 && k0 >= 0 && i0 < nx - 1 && j0 < ny - 1 && k0 < nz - 1)
            {
                float* p = m + k0 * sxy + (long)j0 * nx + i0;
                c000 = p[0]; c100 = p[1]; c010 = p[nx]; c110 = p[nx + 1];
                float* q = p + sxy;
                c001 = q[0]; c101 = q[1]; c011 = q[nx]; c111 = q[nx + 1];
            }
            else
            {
                c000 = At(m, i0, j0, k0); c100 = At(m, i0 + 1, j0, k0); c010 = At(m, i0, j0 + 1, k0); c110 = At(m, i0 + 1, j0 + 1, k0);
                c001 = At(m, i0, j0, k0 + 1); c101 = At(m, i0 + 1, j0, k0 + 1); c011 = At(m, i0, j0 + 1, k0 + 1); c111 = At(m, i0 + 1, j0 + 1, k0 + 1);
            }
            double ex = 1 - fx, ey = 1 - fy;
            double a00 = ex * c000 + fx * c100, a10 = ex * c010 + fx * c110, a01 = ex * c001 + fx * c101, a11 = ex * c011 + fx * c111;
            double b0 = ey * a00 + fy * a10, b1 = ey * a01 + fy * a11;
            return (1 - fz) * b0 + fz * b1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe double At(float* m, int i, int j, int k) =>
        (uint)i < (uint)_mx && (uint)j < (uint)_my && (uint)k < (uint)_mz ? m[((long)k * _my + j) * _mx + i] : 0.0;

    /// <summary>Zero-padded bilinear value and gradient in one slice (2D images).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe bool Sample2(float* m, double x, double y, out double v, out double gx, out double gy)
    {
        int nx = _mx, ny = _my;
        v = gx = gy = 0;
        if (!(x > -1 && y > -1 && x < nx && y < ny)) return false;
        int i0 = (int)Math.Floor(x), j0 = (int)Math.Floor(y);
        double fx = x - i0, fy = y - j0;
        double c00, c10, c01, c11;
        if (i0 >= 0 && j0 >= 0 && i0 < nx - 1 && j0 < ny - 1)
        {
            float* p = m + (long)j0 * nx + i0;
            c00 = p[0]; c10 = p[1]; c01 = p[nx]; c11 = p[nx + 1];
        }
        else
        {
            c00 = At(m, i0, j0, 0); c10 = At(m, i0 + 1, j0, 0); c01 = At(m, i0, j0 + 1, 0); c11 = At(m, i0 + 1, j0 + 1, 0);
        }
        double ex = 1 - fx, ey = 1 - fy;
        double a0 = ex * c00 + fx * c10, a1 = ex * c01 + fx * c11;
        v = ey * a0 + fy * a1;
        gy = a1 - a0;
        gx = ey * (c10 - c00) + fy * (c11 - c01);
        return true;
    }

    /// <summary>Moving-mask test by nearest neighbour on [0, n-1] (DIPY warps the mask with nearest interpolation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InMovingMask(double x, double y, double z)
    {
        if (_movingMask is null) return true;
        const double tol = 1e-6;
        if (x < -tol || y < -tol || x > _mx - 1 + tol || y > _my - 1 + tol) return false;
        if (!_twoD && (z < -tol || z > _mz - 1 + tol)) return false;
        int i = Math.Clamp((int)Math.Ceiling(x - 0.5), 0, _mx - 1);
        int j = Math.Clamp((int)Math.Ceiling(y - 0.5), 0, _my - 1);
        int k = _twoD ? 0 : Math.Clamp((int)Math.Ceiling(z - 0.5), 0, _mz - 1);
        return _movingMask[((long)k * _my + j) * _mx + i] != 0;
    }

    /// <summary>
    /// Dense kernel over static lines [begin, end) of the level grid (pass 1 when <paramref name="histArr"/> is set,
    /// pass 2 when <paramref name="accArr"/> is). Each line's moving coordinates are q0 + i dq (no matrix product per
    /// voxel); the moving value (and, in pass 2, its exact trilinear gradient) comes from the same 8 voxels; the 12
    /// gradient sums live in registers. Boundary: DIPY's zero padding — samples in (-1, n) blend their in-image corners
    /// with zeros, samples further out count with intensity 0 (dense DIPY counts every static voxel). No allocation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe long DenseBlock(int begin, int end, Matrix4 full, Matrix4 g2w, double c0, double c1, double c2,
        double[]? histArr, double[]? accArr)
    {
        var grid = _static.Grid;
        int nx = grid.NX, ny = grid.NY;
        double qdx = full[0, 0], qdy = full[1, 0], qdz = full[2, 0];
        double wdx = g2w[0, 0], wdy = g2w[1, 0], wdz = g2w[2, 0];
        long count = 0;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0;
        fixed (float* m = _moving)
        fixed (byte* bins = _static.Bins)
        fixed (double* hist = histArr)
        fixed (double* acc = accArr)
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
                    if (_movingMask is not null && !InMovingMask(qx, qy, qz)) continue;
                    count++;
                    if (hist is not null)
                    {
                        HistAdd(hist, sb, Value(m, qx, qy, qz));
                        continue;
                    }
                    double v, gx, gy, gz = 0;
                    if (_twoD) Sample2(m, qx, qy, out v, out gx, out gy);
                    else Sample3(m, qx, qy, qz, out v, out gx, out gy, out gz);
                    double w = Weight(logRatio, sb, v);
                    if (w == 0) continue;
                    double dx = wx0 + wdx * i - c0, dy = wy0 + wdy * i - c1, dz = wz0 + wdz * i - c2;
                    double ux = w * gx, uy = w * gy, uz = w * gz;
                    a0 += ux * dx; a1 += ux * dy; a2 += ux * dz; a3 += ux;
                    a4 += uy * dx; a5 += uy * dy; a6 += uy * dz; a7 += uy;
                    a8 += uz * dx; a9 += uz * dy; a10 += uz * dz; a11 += uz;
                }
            }
            if (acc is not null)
            {
                acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
                acc[6] = a6; acc[7] = a7; acc[8] = a8; acc[9] = a9; acc[10] = a10; acc[11] = a11;
            }
        }
        return count;
    }

    /// <summary>Sparse kernel over samples [begin, end): the dense kernel's arithmetic at stored (jittered) world points.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe long SparseBlock(int begin, int end, Matrix4 p, double c0, double c1, double c2,
        double[]? histArr, double[]? accArr)
    {
        var pts = _static.Points!;
        double p00 = p[0, 0], p01 = p[0, 1], p02 = p[0, 2], p03 = p[0, 3];
        double p10 = p[1, 0], p11 = p[1, 1], p12 = p[1, 2], p13 = p[1, 3];
        double p20 = p[2, 0], p21 = p[2, 1], p22 = p[2, 2], p23 = p[2, 3];
        long count = 0;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0;
        fixed (float* m = _moving)
        fixed (byte* bins = _static.Bins)
        fixed (double* hist = histArr)
        fixed (double* acc = accArr)
        fixed (double* logRatio = _logRatio)
        {
            for (int s = begin; s < end; s++)
            {
                int sb = bins[s];
                if (sb == 255) continue;
                double x = pts[3 * s], y = pts[3 * s + 1], z = pts[3 * s + 2];
                double qx = p00 * x + p01 * y + p02 * z + p03;
                double qy = p10 * x + p11 * y + p12 * z + p13;
                double qz = p20 * x + p21 * y + p22 * z + p23;
                if (_movingMask is not null && !InMovingMask(qx, qy, qz)) continue;
                count++;
                if (hist is not null)
                {
                    HistAdd(hist, sb, Value(m, qx, qy, qz));
                    continue;
                }
                double v, gx, gy, gz = 0;
                if (_twoD) Sample2(m, qx, qy, out v, out gx, out gy);
                else Sample3(m, qx, qy, qz, out v, out gx, out gy, out gz);
                double w = Weight(logRatio, sb, v);
                if (w == 0) continue;
                double dx = x - c0, dy = y - c1, dz = z - c2;
                double ux = w * gx, uy = w * gy, uz = w * gz;
                a0 += ux * dx; a1 += ux * dy; a2 += ux * dz; a3 += ux;
                a4 += uy * dx; a5 += uy * dy; a6 += uy * dz; a7 += uy;
                a8 += uz * dx; a9 += uz * dy; a10 += uz * dz; a11 += uz;
            }
            if (acc is not null)
            {
                acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
                acc[6] = a6; acc[7] = a7; acc[8] = a8; acc[9] = a9; acc[10] = a10; acc[11] = a11;
            }
        }
        return count;
    }
}
