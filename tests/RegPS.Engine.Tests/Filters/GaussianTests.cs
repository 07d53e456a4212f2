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
}
