using RegPS.Engine.Fields;

namespace RegPS.Engine.Tests.Fields;

/// <summary>
/// The interpolated step smoothing (SyN's default in 3D) against a Gaussian written here, separable in double with
/// scipy's reflect rule: exact on the coarse rows (every second slice and row and the last ones), the 4-point midpoint
/// interpolation of those rows in between, and close to the exact Gaussian everywhere at SyN's sigma.
/// </summary>
public class DecimatedSmoothingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static int Reflect(int i, int n)
    {
        while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
        return i;
    }

    /// <summary>scipy.ndimage.gaussian_filter(mode='reflect', truncate) of each component, in double.</summary>
    private static double[] Gaussian(float[] f, int nx, int ny, int nz, double sigma, double truncate)
    {
        int r = (int)(truncate * sigma + 0.5);
        var w = new double[2 * r + 1];
        double ws = 0;
        for (int t = -r; t <= r; t++) ws += w[t + r] = Math.Exp(-0.5 * t * t / (sigma * sigma));
        for (int t = 0; t < w.Length; t++) w[t] /= ws;
        var a = f.Select(v => (double)v).ToArray();
        for (int axis = 0; axis < 3; axis++)
        {
            var b = new double[a.Length];
            for (int k = 0; k < nz; k++)
                for (int j = 0; j < ny; j++)
                    for (int i = 0; i < nx; i++)
                        for (int c = 0; c < 3; c++)
                        {
                            double acc = 0;
                            for (int t = -r; t <= r; t++)
                            {
                                int ii = i, jj = j, kk = k;
                                if (axis == 0) ii = Reflect(i + t, nx); else if (axis == 1) jj = Reflect(j + t, ny); else kk = Reflect(k + t, nz);
                                acc += w[t + r] * a[3 * ((kk * ny + jj) * nx + ii) + c];
                            }
                            b[3 * ((k * ny + j) * nx + i) + c] = acc;
                        }
            a = b;
        }
        return a;
    }

    /// <summary>
    /// The value at position i of an axis of n voxels from the values at its coarse positions 0, 2, 4, ... and n-1:
    /// those are kept; every other position takes the polynomial through the 4 coarse positions nearest to it, two on
    /// each side where there are, else the 4 nearest at that end (all of them when there are fewer than 4), evaluated
    /// by Neville's scheme.
    /// </summary>
    private static double Midpoint(Func<int, double> at, int i, int n)
    {
        if (i % 2 == 0 || i == n - 1) return at(i);
        var coarse = Enumerable.Range(0, n).Where(p => Coarse(p, n)).ToList();
        int count = Math.Min(4, coarse.Count);
        int first = Math.Max(0, Math.Min(coarse.IndexOf(i - 1) - 1, coarse.Count - count));
        var xs = coarse.GetRange(first, count).Select(p => (double)p).ToArray();
        var ps = xs.Select(x => at((int)x)).ToArray();
        for (int level = 1; level < count; level++)
            for (int q = 0; q + level < count; q++)
                ps[q] = ((i - xs[q + level]) * ps[q] + (xs[q] - i) * ps[q + 1]) / (xs[q] - xs[q + level]);
        return ps[0];
    }

    private static bool Coarse(int i, int n) => i % 2 == 0 || i == n - 1;

    [Theory]
    [InlineData(23, 20, 17, 3.0, 3.0)]
    [InlineData(16, 11, 12, 3.5, 3.0)]
    [InlineData(9, 8, 7, 3.0, 4.0)]
    [InlineData(6, 4, 3, 3.0, 3.0)]
    [InlineData(5, 2, 9, 3.0, 3.0)]
    public void CoarseRowsAreTheGaussian_AndTheRowsBetweenTheirInterpolation(int nx, int ny, int nz, double sigma, double truncate)
    {
        var rnd = new Random(nx * 1000 + ny * 10 + nz);
        var f = new float[3 * nx * ny * nz];
        for (int i = 0; i < f.Length; i++) f[i] = (float)(2 * rnd.NextDouble() - 1);
        var exact = Gaussian(f, nx, ny, nz, sigma, truncate);
        new DecimatedSmoothing().Smooth(new[] { f }, nx, ny, nz, new[] { sigma, sigma, sigma }, truncate, 2);
        double E(int i, int j, int k, int c) => exact[3 * ((k * ny + j) * nx + i) + c];
        double worstCoarse = 0, worstBetween = 0;
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++)
                    for (int c = 0; c < 3; c++)
                    {
                        double got = f[3 * ((k * ny + j) * nx + i) + c];
                        if (Coarse(j, ny) && Coarse(k, nz))
                            worstCoarse = Math.Max(worstCoarse, Math.Abs(got - E(i, j, k, c)));
                        else
                        {
                            // along y on coarse slices, then along z between those
                            int ii = i, cc = c, jj = j;
                            double expected = Midpoint(kk => Midpoint(y => E(ii, y, kk, cc), jj, ny), k, nz);
                            worstBetween = Math.Max(worstBetween, Math.Abs(got - expected));
                        }
                    }
        output.WriteLine($"{nx}x{ny}x{nz} sigma {sigma}: coarse rows off by {worstCoarse:E2}, rows between by {worstBetween:E2}");
        Assert.True(worstCoarse < 2e-6, $"coarse rows off the Gaussian by {worstCoarse:E2}");
        Assert.True(worstBetween < 2e-6, $"rows between off their interpolation by {worstBetween:E2}");
    }

    /// <summary>
    /// At SyN's sigma (5 voxels) the result is the exact Gaussian within a few tenths of a percent (rms over the volume).
    /// The cubic's own error is about 1/sigma^4 of the field per interpolated axis (0.15% at sigma 5). White noise is
    /// the hardest input: a kernel cut at 3 sigma (RegPS's default) also passes a little of every frequency through its
    /// cut edges, which a 2-voxel grid cannot carry (measured 0.29%; cut at 4 sigma, scipy's, 0.14%). A field already
    /// smooth over a few voxels (white noise smoothed with sigma 2), as the CC steps are, comes out within 0.1%.
    /// </summary>
    [Theory]
    [InlineData(3.0, 0.0, 0.005)]
    [InlineData(4.0, 0.0, 0.002)]
    [InlineData(3.0, 2.0, 0.0015)]
    public void AtSigma5_ItIsTheGaussianWithinAFractionOfAPercent(double truncate, double presmooth, double bound)
    {
        int nx = 40, ny = 36, nz = 33;
        var rnd = new Random(5);
        var f = new float[3 * nx * ny * nz];
        for (int i = 0; i < f.Length; i++) f[i] = (float)(2 * rnd.NextDouble() - 1);
        if (presmooth > 0) f = Gaussian(f, nx, ny, nz, presmooth, 4).Select(v => (float)v).ToArray();
        var exact = Gaussian(f, nx, ny, nz, 5, truncate);
        new DecimatedSmoothing().Smooth(new[] { f }, nx, ny, nz, new[] { 5.0, 5.0, 5.0 }, truncate, 1);
        double largest = exact.Max(Math.Abs), worst = 0, sq = 0, sqExact = 0;
        for (int i = 0; i < f.Length; i++)
        {
            double d = f[i] - exact[i];
            worst = Math.Max(worst, Math.Abs(d));
            sq += d * d; sqExact += exact[i] * exact[i];
        }
        double rel = Math.Sqrt(sq / sqExact);
        output.WriteLine($"truncate {truncate}, input smoothed {presmooth}: largest smoothed value {largest:E2}, worst difference {worst / largest:E2} of it, rms relative {rel:E2}");
        Assert.True(rel < bound, $"rms relative difference {rel:E2}");
        Assert.True(worst < 4 * bound * largest, $"worst difference {worst:E2} against a largest value of {largest:E2}");
    }

    [Fact]
    public void TheBitsAreTheSameAtAnyThreadCount_AndForEachFieldAlone()
    {
        int nx = 31, ny = 26, nz = 19;
        var rnd = new Random(77);
        var u = new float[3 * nx * ny * nz]; var v = new float[u.Length];
        for (int i = 0; i < u.Length; i++) { u[i] = (float)(2 * rnd.NextDouble() - 1); v[i] = (float)(2 * rnd.NextDouble() - 1); }
        var sigma = new[] { 4.0, 3.5, 3.0 };
        var uAlone = (float[])u.Clone(); var vAlone = (float[])v.Clone();
        var smoother = new DecimatedSmoothing();
        smoother.Smooth(new[] { uAlone }, nx, ny, nz, sigma, 3, 1);
        smoother.Smooth(new[] { vAlone }, nx, ny, nz, sigma, 3, 1);
        Assert.NotEqual(u, uAlone);
        var u2 = (float[])u.Clone(); var v2 = (float[])v.Clone();
        // a new instance, and one whose scratch was sized for a larger volume first
        var used = new DecimatedSmoothing();
        used.Smooth(new[] { new float[3 * 40 * 40 * 40], new float[3 * 40 * 40 * 40] }, 40, 40, 40, sigma, 3, 2);
        used.Smooth(new[] { u2, v2 }, nx, ny, nz, sigma, 3, 2);
        new DecimatedSmoothing().Smooth(new[] { u, v }, nx, ny, nz, sigma, 3, 2);
        Assert.Equal(uAlone, u);
        Assert.Equal(vAlone, v);
        Assert.Equal(uAlone, u2);
        Assert.Equal(vAlone, v2);
    }

    /// <summary>
    /// The interpolation of a line, vector blocks and scalar tail, against the same float operations one element at a
    /// time (w0 a0 + w1 a1, then + w2 a2, then + w3 a3): the same bits, for every stencil of axes of 2 to 12 voxels
    /// and line lengths that leave tails (run again with AVX2 off by build.ps1 Test).
    /// </summary>
    [Fact]
    public void InterpolatedLinesAreTheScalarOperationsBitForBit()
    {
        var rnd = new Random(9);
        foreach (int n in Enumerable.Range(2, 11))
        {
            var stencils = DecimatedSmoothing.Stencils(n);
            int m = DecimatedSmoothing.CoarseCount(n);
            foreach (int len in new[] { 3, 29, 69, 96 })
            {
                var src = new float[m * len + 5];
                for (int i = 0; i < src.Length; i++) src[i] = (float)(2 * rnd.NextDouble() - 1);
                for (int i = 0; i < n; i++)
                {
                    var st = stencils[i];
                    var dst = new float[len];
                    DecimatedSmoothing.Interpolate(src, 5, len, st, dst);
                    for (int e = 0; e < len; e++)
                    {
                        float expected;
                        if (st.Count == 1) expected = src[5 + st.Start * len + e];
                        else
                        {
                            // a stencil's absent terms have weight 0 and read its second line, as the kernel does
                            float At(int q) => src[5 + (st.Start + (q < st.Count ? q : 1)) * len + e];
                            expected = st.W0 * At(0) + st.W1 * At(1);
                            expected += st.W2 * At(2);
                            expected += st.W3 * At(3);
                        }
                        Assert.Equal(expected, dst[e]);
                    }
                }
            }
        }
    }

    [Fact]
    public void ItNeedsASigmaAlongEveryAxis()
    {
        var f = new float[3 * 8 * 8 * 8];
        Assert.Throws<ArgumentException>(() => new DecimatedSmoothing().Smooth(new[] { f }, 8, 8, 8, new[] { 3.0, 3.0, 0 }, 3, 1));
    }
}
