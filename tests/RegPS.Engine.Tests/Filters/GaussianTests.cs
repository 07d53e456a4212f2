using RegPS.Engine.Filters;

namespace RegPS.Engine.Tests.Filters;

public class GaussianTests
{
    [Fact]
    public void ImpulseResponseIsTheNormalisedKernel()
    {
        const int n = 41;
        var data = new float[n * n * n];
        data[(20 * n + 20) * n + 20] = 1;
        Gaussian.SmoothInPlace(data.AsSpan(), n, n, n, new[] { 2.0, 2.0, 2.0 });
        var k = Gaussian.Kernel(2.0);
        Assert.Equal(17, k.Length); // radius round(4*2) = 8
        for (int d = -8; d <= 8; d++)
            Assert.Equal(k[8] * k[8] * k[d + 8], data[(20 * n + 20) * n + 20 + d], 6);
        // Analytic Gaussian shape: the ratio of neighbouring taps is exp(-(2d+1)/(2 sigma^2)).
        Assert.Equal(Math.Exp(-0.5 / 4), k[9] / k[8], 12);
    }

    [Fact]
    public void ReflectBoundaryPreservesTheSum()
    {
        var rnd = new Random(7);
        var data = Enumerable.Range(0, 9 * 7 * 5).Select(_ => (float)rnd.NextDouble()).ToArray();
        double before = data.Sum(v => (double)v);
        Gaussian.SmoothInPlace(data.AsSpan(), 9, 7, 5, new[] { 1.5, 3.0, 0.7 });
        Assert.Equal(before, data.Sum(v => (double)v), 3);
    }

    [Fact]
    public void ReflectIndexRepeatsTheEdge()
    {
        Assert.Equal(new[] { 1, 0, 0, 1, 2, 3, 3, 2 }, Enumerable.Range(-2, 8).Select(i => Gaussian.Reflect(i, 4)).ToArray());
    }

    [Fact]
    public void SameResultAtOneAndManyThreads()
    {
        var rnd = new Random(3);
        var a = Enumerable.Range(0, 20 * 18 * 16).Select(_ => (float)rnd.NextDouble()).ToArray();
        var b = (float[])a.Clone();
        Gaussian.SmoothInPlace(a.AsSpan(), 20, 18, 16, new[] { 2.0, 2.0, 2.0 }, 1);
        Gaussian.SmoothInPlace(b.AsSpan(), 20, 18, 16, new[] { 2.0, 2.0, 2.0 }, 4);
        Assert.Equal(a, b);
    }

    /// <summary>The definition, one line at a time: out[t] = sum_q k[q] in[reflect(t + q - r)] in double from 0.</summary>
    private static float[] Reference(float[] src, int nx, int ny, int nz, double[] sigmas)
    {
        var data = (float[])src.Clone();
        int[] n = { nx, ny, nz }, stride = { 1, nx, nx * ny };
        for (int axis = 0; axis < 3; axis++)
        {
            if (sigmas[axis] <= 0 || n[axis] == 1) continue;
            var k = Gaussian.Kernel(sigmas[axis]);
            int r = k.Length / 2, len = n[axis], st = stride[axis];
            var line = new double[len];
            for (int z = 0; z < nz; z++)
                for (int y = 0; y < ny; y++)
                    for (int x = 0; x < nx; x++)
                    {
                        int[] c = { x, y, z };
                        if (c[axis] != 0) continue; // one visit per line
                        int start = x + nx * (y + ny * z);
                        for (int t = 0; t < len; t++) line[t] = data[start + t * st];
                        for (int t = 0; t < len; t++)
                        {
                            double acc = 0;
                            for (int q = 0; q < k.Length; q++) acc += k[q] * line[Gaussian.Reflect(t + q - r, len)];
                            data[start + t * st] = (float)acc;
                        }
                    }
        }
        return data;
    }

    [Theory]
    [InlineData(70, 37, 23, 1.0, 2.0, 3.0)]   // x not a multiple of the 64-line blocks or of 4
    [InlineData(131, 5, 3, 3.0, 3.0, 3.0)]    // kernels longer than the y and z lines (reflected more than once)
    [InlineData(181, 217, 1, 2.0, 1.5, 0.0)]  // 2D
    [InlineData(9, 64, 7, 0.0, 0.7, 1.67)]
    [InlineData(33, 20, 9, 0.1, 0.7, 0.067)]  // radius-0 kernels (sigma below 1/8 voxel; SyN's pyramid has z 0.067 at 2x2x3 mm): skipped, same bits
    public void SimdPassesGiveTheDefinitionsBits(int nx, int ny, int nz, double sx, double sy, double sz)
    {
        var rnd = new Random(nx * 31 + ny);
        var src = Enumerable.Range(0, nx * ny * nz).Select(_ => (float)(rnd.NextDouble() * 100 - 20)).ToArray();
        var expected = Reference(src, nx, ny, nz, new[] { sx, sy, sz });
        foreach (int threads in new[] { 1, 2 })
        {
            var got = (float[])src.Clone();
            Gaussian.SmoothInPlace(got.AsSpan(), nx, ny, nz, new[] { sx, sy, sz }, threads);
            for (int i = 0; i < got.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]), $"voxel {i}: {got[i]} vs {expected[i]} ({threads} threads)");
        }
    }
}
