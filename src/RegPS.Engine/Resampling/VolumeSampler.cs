using RegPS.Engine.Images;

namespace RegPS.Engine.Resampling;

/// <summary>Which continuous indices count as inside the image (outside ones get the default value).</summary>
public enum SampleDomain
{
    /// <summary>ITK's IsInsideBuffer: -0.5 &lt;= x &lt; n - 0.5 on every axis (antsApplyTransforms, transformix).</summary>
    Itk,
    /// <summary>scipy.ndimage mode='constant' (nibabel's resample_from_to): 0 &lt;= x &lt;= n - 1 (to 1e-6).</summary>
    Scipy,
}

/// <summary>
/// Samples one volume (float32, x fastest) at continuous voxel indices with any <see cref="Interpolation"/>.
/// Neighbours beyond the edge are clamped to it (ITK's and scipy's choice for linear, ITK's zero-flux Neumann rule for
/// Lanczos), except for the cubic B-spline whose coefficients are mirrored about the edge samples (ITK's and scipy's
/// 'mirror' rule). Built once per volume: the B-spline prefilter runs in the constructor.
/// </summary>
internal sealed class VolumeSampler
{
    private readonly float[] _src;
    private readonly int _off;
    private readonly double[]? _coef;
    private readonly int _nx, _ny, _nz;
    private readonly bool _twoD;
    private readonly Interpolation _mode;
    private readonly SampleDomain _domain;
    private readonly float _outside;

    /// <summary>Lanczos window radius a (taps from floor(x) - a + 1 to floor(x) + a): 3, as antsApplyTransforms' LanczosWindowedSinc.</summary>
    public const int LanczosRadius = 3;

    public VolumeSampler(float[] src, int offset, Grid grid, Interpolation mode, SampleDomain domain, float outside)
    {
        _src = src; _off = offset;
        _nx = grid.NX; _ny = grid.NY; _nz = grid.NZ;
        _twoD = grid.Dimension == 2 || _nz == 1;
        _mode = mode; _domain = domain; _outside = outside;
        if (mode == Interpolation.BSpline) _coef = BSplineCoefficients(src, offset, _nx, _ny, _nz);
    }

    public float Sample(double x, double y, double z)
    {
        if (!Inside(x, _nx) || !Inside(y, _ny) || !Inside(z, _nz)) return _outside;
        return _mode switch
        {
            Interpolation.Linear => Linear(x, y, z),
            Interpolation.Nearest => _src[_off + Index(RoundHalfUp(x, _nx), RoundHalfUp(y, _ny), RoundHalfUp(z, _nz))],
            Interpolation.GenericLabel => Label(x, y, z),
            Interpolation.BSpline => Spline(x, y, z),
            Interpolation.Lanczos => Lanczos(x, y, z),
            _ => throw new ArgumentOutOfRangeException(nameof(_mode)),
        };
    }

    private bool Inside(double v, int n) => _domain == SampleDomain.Itk
        ? v >= -0.5 && v < n - 0.5
        : v >= -1e-6 && v <= n - 1 + 1e-6;

    private int Index(int i, int j, int k) => (k * _ny + j) * _nx + i;

    private static int RoundHalfUp(double v, int n) => Math.Clamp((int)Math.Floor(v + 0.5), 0, n - 1);

    // Linear: ITK's clamped rule (Linear.Clamped); Corners is the same per-axis rule for the other kernels.
    private static void Corners(double v, int n, out int i0, out int i1, out double f) => RegPS.Engine.Resampling.Linear.ClampCorners(v, n, out i0, out i1, out f);

    private float Linear(double x, double y, double z) => RegPS.Engine.Resampling.Linear.Clamped(_src, _off, _nx, _ny, _nz, x, y, z);

    // ANTs' GenericLabel: each label's indicator is interpolated linearly and the label with the largest value wins,
    // so the result is always one of the labels around the point (no blends such as 1.5 between labels 1 and 2).
    // Ties go to the label met first (corner order x, then y, then z).
    private float Label(double x, double y, double z)
    {
        Corners(x, _nx, out int x0, out int x1, out double fx);
        Corners(y, _ny, out int y0, out int y1, out double fy);
        Corners(z, _nz, out int z0, out int z1, out double fz);
        Span<float> labels = stackalloc float[8];
        Span<double> weights = stackalloc double[8];
        int count = 0;
        for (int c = 0; c < 8; c++)
        {
            double w = ((c & 1) != 0 ? fx : 1 - fx) * ((c & 2) != 0 ? fy : 1 - fy) * ((c & 4) != 0 ? fz : 1 - fz);
            float v = _src[_off + Index((c & 1) != 0 ? x1 : x0, (c & 2) != 0 ? y1 : y0, (c & 4) != 0 ? z1 : z0)];
            int at = 0;
            while (at < count && !labels[at].Equals(v)) at++;
            if (at == count) { labels[count] = v; weights[count] = 0; count++; }
            weights[at] += w;
        }
        int best = 0;
        for (int i = 1; i < count; i++) if (weights[i] > weights[best]) best = i;
        return labels[best];
    }

    // Cubic B-spline (scipy.ndimage order=3, ITK BSplineInterpolateImageFunction order 3): the image is first turned
    // into B-spline coefficients c so that sum_k c[k] beta3(i - k) = f[i] exactly at every voxel (the prefilter), then
    // sampled as sum_k c[k] beta3(x - k) over the 4 nearest k per axis. Coefficient indices beyond an edge mirror about
    // the edge sample (k = -1 is 1, k = n is n - 2).
    private float Spline(double x, double y, double z)
    {
        Span<double> wx = stackalloc double[4], wy = stackalloc double[4], wz = stackalloc double[4];
        Span<int> ix = stackalloc int[4], iy = stackalloc int[4], iz = stackalloc int[4];
        SplineTaps(x, _nx, wx, ix);
        SplineTaps(y, _ny, wy, iy);
        int nzTaps = _twoD ? 1 : 4;
        if (_twoD) { wz[0] = 1; iz[0] = 0; } else SplineTaps(z, _nz, wz, iz);
        var c = _coef!;
        double acc = 0;
        for (int k = 0; k < nzTaps; k++)
            for (int j = 0; j < 4; j++)
            {
                double wjk = wz[k] * wy[j];
                int row = (iz[k] * _ny + iy[j]) * _nx;
                acc += wjk * (wx[0] * c[row + ix[0]] + wx[1] * c[row + ix[1]] + wx[2] * c[row + ix[2]] + wx[3] * c[row + ix[3]]);
            }
        return (float)acc;
    }

    private static void SplineTaps(double v, int n, Span<double> w, Span<int> idx)
    {
        int b = (int)Math.Floor(v);
        double t = v - b, t2 = t * t, t3 = t2 * t, u = 1 - t;
        w[0] = u * u * u / 6;
        w[1] = (4 - 6 * t2 + 3 * t3) / 6;
        w[2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
        w[3] = t3 / 6;
        for (int i = 0; i < 4; i++) idx[i] = Mirror(b - 1 + i, n);
    }

    private static int Mirror(int i, int n)
    {
        if (n == 1) return 0;
        int period = 2 * (n - 1);
        i %= period;
        if (i < 0) i += period;
        return i < n ? i : period - i;
    }

    /// <summary>
    /// Cubic B-spline coefficients of a volume: along each axis in turn, the recursive filter of Unser et al. (IEEE
    /// Trans. Signal Process. 41(2), 1993): gain 6, a causal pass c+[k] = f[k] + z c+[k-1] and an anticausal pass
    /// c[k] = z (c[k+1] - c+[k]) with the pole z = sqrt(3) - 2, both started for mirror-symmetric boundaries.
    /// Lines along one axis are independent, so each axis is one pass over contiguous or strided lines.
    /// </summary>
    internal static double[] BSplineCoefficients(float[] src, int offset, int nx, int ny, int nz)
    {
        var c = new double[nx * ny * nz];
        for (int i = 0; i < c.Length; i++) c[i] = src[offset + i];
        var line = new double[Math.Max(nx, Math.Max(ny, nz))];
        void Axis(int n, int stride, int count, Func<int, int> start)
        {
            if (n < 2) return;
            for (int l = 0; l < count; l++)
            {
                int s = start(l);
                for (int i = 0; i < n; i++) line[i] = c[s + i * stride];
                Prefilter(line.AsSpan(0, n));
                for (int i = 0; i < n; i++) c[s + i * stride] = line[i];
            }
        }
        Axis(nx, 1, ny * nz, l => l * nx);
        Axis(ny, nx, nx * nz, l => (l / nx) * nx * ny + l % nx);
        Axis(nz, nx * ny, nx * ny, l => l);
        return c;
    }

    internal static void Prefilter(Span<double> c)
    {
        int n = c.Length;
        double z = Math.Sqrt(3) - 2;
        const double gain = 6; // (1 - z)(1 - 1/z)
        for (int i = 0; i < n; i++) c[i] *= gain;
        // causal start for a mirror-symmetric signal (period 2n - 2), summed exactly
        double zn1 = Math.Pow(z, n - 1), zi = z, sum = c[0] + zn1 * c[n - 1];
        for (int i = 1; i < n - 1; i++)
        {
            sum += zi * (c[i] + zn1 * c[n - 1 - i]);
            zi *= z;
        }
        c[0] = sum / (1 - zn1 * zn1);
        for (int i = 1; i < n; i++) c[i] += z * c[i - 1];
        c[n - 1] = z / (z * z - 1) * (z * c[n - 2] + c[n - 1]);
        for (int i = n - 2; i >= 0; i--) c[i] = z * (c[i + 1] - c[i]);
    }

    // Lanczos windowed sinc (radius a = 3): weights sinc(d) sinc(d / a) for the 2a nearest samples per axis, normalised
    // to sum 1 so that a constant image stays constant; neighbours beyond the edge are clamped to it.
    private float Lanczos(double x, double y, double z)
    {
        const int taps = 2 * LanczosRadius;
        Span<double> wx = stackalloc double[taps], wy = stackalloc double[taps], wz = stackalloc double[taps];
        Span<int> ix = stackalloc int[taps], iy = stackalloc int[taps], iz = stackalloc int[taps];
        LanczosTaps(x, _nx, wx, ix);
        LanczosTaps(y, _ny, wy, iy);
        int nzTaps = _twoD ? 1 : taps;
        if (_twoD) { wz[0] = 1; iz[0] = 0; } else LanczosTaps(z, _nz, wz, iz);
        double acc = 0;
        for (int k = 0; k < nzTaps; k++)
            for (int j = 0; j < taps; j++)
            {
                double wjk = wz[k] * wy[j];
                if (wjk == 0) continue;
                int row = _off + (iz[k] * _ny + iy[j]) * _nx;
                double r = 0;
                for (int i = 0; i < taps; i++) r += wx[i] * _src[row + ix[i]];
                acc += wjk * r;
            }
        return (float)acc;
    }

    private static void LanczosTaps(double v, int n, Span<double> w, Span<int> idx)
    {
        int b = (int)Math.Floor(v);
        double sum = 0;
        for (int i = 0; i < w.Length; i++)
        {
            int k = b - LanczosRadius + 1 + i;
            double d = v - k;
            double wi = Sinc(d) * Sinc(d / LanczosRadius);
            w[i] = wi; sum += wi;
            idx[i] = Math.Clamp(k, 0, n - 1);
        }
        for (int i = 0; i < w.Length; i++) w[i] /= sum;
    }

    private static double Sinc(double u)
    {
        if (Math.Abs(u) < 1e-12) return 1;
        double p = Math.PI * u;
        return Math.Sin(p) / p;
    }
}
