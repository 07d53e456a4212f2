using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Tests.TestSupport;

namespace RegPS.Engine.Tests.Filters;

public class BSplineAndDecimationTests
{
    private static void Near(double expected, double actual, double tolerance) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"expected {expected:R}, got {actual:R} (tolerance {tolerance})");

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.NextDouble();
        return a;
    }

    /// <summary>The cubic B-spline basis (the definition, not the kernel's weights): beta3(x).</summary>
    private static double Beta3(double x)
    {
        x = Math.Abs(x);
        if (x < 1) return (4 - 6 * x * x + 3 * x * x * x) / 6;
        if (x < 2) return (2 - x) * (2 - x) * (2 - x) / 6;
        return 0;
    }

    private static int Mirror(int i, int n)
    {
        if (n == 1) return 0;
        int p = 2 * n - 2;
        i = ((i % p) + p) % p;
        return i < n ? i : p - i;
    }

    [Theory]
    [InlineData(2, 1, 1)]
    [InlineData(3, 1, 1)]
    [InlineData(40, 1, 1)]
    [InlineData(9, 7, 1)]
    [InlineData(13, 6, 5)]
    [InlineData(37, 21, 19)]
    public void CoefficientsReproduceEverySample(int nx, int ny, int nz)
    {
        // sum_k c(mirror k) beta3(i - k) over the whole-sample mirror must give back sample i (the interpolation condition).
        var data = Random(nx * ny * nz, nx + ny + nz);
        var c = BSplinePrefilter.Coefficients(data, nx, ny, nz, 2);
        for (int k = 0; k < nz; k++)
            for (int j = 0; j < ny; j++)
                for (int i = 0; i < nx; i++)
                {
                    double sum = 0;
                    for (int dk = -1; dk <= 1; dk++)
                        for (int dj = -1; dj <= 1; dj++)
                            for (int di = -1; di <= 1; di++)
                            {
                                if ((nz == 1 && dk != 0) || (ny == 1 && dj != 0)) continue;
                                double w = (nx == 1 ? 1 : Beta3(di)) * (ny == 1 ? 1 : Beta3(dj)) * (nz == 1 ? 1 : Beta3(dk));
                                sum += w * c[(Mirror(k + dk, nz) * ny + Mirror(j + dj, ny)) * nx + Mirror(i + di, nx)];
                            }
                    Near(data[(k * ny + j) * nx + i], sum, 1e-5);
                }
    }

    [Fact]
    public void CoefficientsDoNotDependOnTheThreadCount()
    {
        var data = Random(33 * 17 * 2049 / 16, 5);
        var one = BSplinePrefilter.Coefficients(data, 33, 17, data.Length / (33 * 17), 1);
        var two = BSplinePrefilter.Coefficients(data, 33, 17, data.Length / (33 * 17), 2);
        Assert.Equal(one, two);
    }

    [PythonFact("scipy")]
    public void CoefficientsEqualScipysMirrorSplineFilter()
    {
        int nx = 11, ny = 8, nz = 6;
        var data = Random(nx * ny * nz, 9);
        var c = BSplinePrefilter.Coefficients(data, nx, ny, nz);
        string raw = Path.Combine(Path.GetTempPath(), $"regps-spline-{Guid.NewGuid():N}.raw");
        var bytes = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(raw, bytes);
        string output;
        try { output = Python.Run("spline_filter.py", raw, nz.ToString(), ny.ToString(), nx.ToString()); }
        finally { File.Delete(raw); }
        var expected = output.Trim().Split(' ').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected.Length, c.Length);
        for (int i = 0; i < c.Length; i++) Near(expected[i], c[i], 1e-5);
    }

    [Fact]
    public unsafe void CubicSamplerGradientIsTheDerivativeOfItsValue()
    {
        int nx = 12, ny = 10, nz = 9;
        var data = Random(nx * ny * nz, 3);
        var c = BSplinePrefilter.Coefficients(data, nx, ny, nz);
        var rng = new Random(4);
        fixed (float* cp = c)
        fixed (float* dp = data)
        {
            var s = new CubicBSpline3(cp, dp, nx, ny, nz);
            for (int t = 0; t < 200; t++)
            {
                double x = 0.01 + rng.NextDouble() * (nx - 1.02), y = 0.01 + rng.NextDouble() * (ny - 1.02), z = 0.01 + rng.NextDouble() * (nz - 1.02);
                s.ValueGradient(x, y, z, out var gx, out var gy, out var gz);
                const double h = 1e-5;
                Near((s.Value(x + h, y, z) - s.Value(x - h, y, z)) / (2 * h), gx, 1e-4);
                Near((s.Value(x, y + h, z) - s.Value(x, y - h, z)) / (2 * h), gy, 1e-4);
                Near((s.Value(x, y, z + h) - s.Value(x, y, z - h)) / (2 * h), gz, 1e-4);
            }
            // At grid points the spline passes through the samples.
            Near(data[(4 * ny + 3) * nx + 5], s.Value(5, 3, 4), 1e-5);
        }
    }

    [Theory]
    [InlineData(2, 2, 2, 2.0)]
    [InlineData(2, 2, 1, 1.0)]
    [InlineData(4, 4, 3, 2.0)]
    [InlineData(1, 1, 1, 0.8)]
    public void DecimationEqualsSmoothingThenKeepingEverySthSample(int sx, int sy, int sz, double sigma)
    {
        // Reference: the full scipy-semantics Gaussian (tested against its definition) and then subsampling.
        var g = new Grid(23, 19, 14, Matrix4.Translation(-3, 4, 5) * Matrix4.Scaling(1.5, 2, 2.5), 3);
        var data = Random(g.VoxelCount, 11);
        var sig = new[] { sigma * sx / 2, sigma * sy / 2, sigma * sz / 2 };
        var (dec, lg) = GaussianDecimation.Apply(data, g, new[] { sx, sy, sz }, sig, 2);
        var full = Gaussian.Smooth(Image.FromVoxels(g, data), sig).ToArray();
        Assert.Equal((g.NX - 1) / sx + 1, lg.NX);
        Assert.Equal((g.NY - 1) / sy + 1, lg.NY);
        Assert.Equal((g.NZ - 1) / sz + 1, lg.NZ);
        Assert.Equal(g.ToWorld(sx * 3, sy * 2, sz * 1), lg.ToWorld(3, 2, 1));
        for (int k = 0; k < lg.NZ; k++)
            for (int j = 0; j < lg.NY; j++)
                for (int i = 0; i < lg.NX; i++)
                    Near(full[g.Index(i * sx, j * sy, k * sz)], dec[lg.Index(i, j, k)], 1e-5);
        var (dec1, _) = GaussianDecimation.Apply(data, g, new[] { sx, sy, sz }, sig, 1);
        Assert.Equal(dec1, dec);
    }
}
