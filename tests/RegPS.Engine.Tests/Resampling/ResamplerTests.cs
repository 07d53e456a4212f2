using RegPS.Engine.Images;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Tests.Resampling;

public class ResamplerTests
{
    private static Image Ramp(int nx, int ny, int nz, Matrix4 g2w) =>
        new(new Grid(nx, ny, nz, g2w), Enumerable.Range(0, nx * ny * nz).Select(i => (float)(i % nx + 10 * (i / nx % ny) + 100 * (i / (nx * ny)))).ToArray());

    [Fact]
    public void LinearInterpolationOfALinearFunctionIsExact()
    {
        var src = Ramp(8, 8, 8, Matrix4.Scaling(2, 2, 2));
        // Target grid: 1 mm voxels shifted by 0.5 mm: target voxel i sits at source index (i + 0.5)/2.
        var target = new Grid(10, 10, 10, Matrix4.Translation(0.5, 0.5, 0.5) * Matrix4.Identity);
        var r = Resampler.Resample(src, target);
        for (int k = 0; k < 10; k++)
            for (int j = 0; j < 10; j++)
                for (int i = 0; i < 10; i++)
                {
                    double x = (i + 0.5) / 2, y = (j + 0.5) / 2, z = (k + 0.5) / 2;
                    Assert.Equal(x + 10 * y + 100 * z, r[i, j, k], 4);
                }
    }

    [Fact]
    public void ConstantBoundaryIsZeroOutsideAndZeroPaddedBlends()
    {
        var d = new float[] { 4, 4, 4, 4 };
        Assert.Equal(0f, Linear.Bilinear(d, 0, 2, 2, -0.5, 0, Boundary.Constant));
        Assert.Equal(2f, Linear.Bilinear(d, 0, 2, 2, -0.5, 0, Boundary.ZeroPadded), 5);
        Assert.Equal(4f, Linear.Bilinear(d, 0, 2, 2, 1, 1, Boundary.Constant), 5);
        Assert.Equal(0f, Linear.Bilinear(d, 0, 2, 2, 2.0, 0, Boundary.ZeroPadded));
    }

    [Fact]
    public void TheBoundaryRuleIsAValueOfOneInterpolationModule()
    {
        // a 2x2x2 volume of 4s (and a field of (4, -2, 1) vectors) sampled half a voxel before its first x face, and inside
        var img = Enumerable.Repeat(4f, 8).ToArray();
        Assert.Equal(2f, Linear.Sample(img, 0, 2, 2, 2, -0.5, 0, 0, Boundary.ZeroPadded), 5);   // DIPY: half the weight is on a zero
        Assert.Equal(0f, Linear.Sample(img, 0, 2, 2, 2, -0.5, 0, 0, Boundary.Constant));        // scipy: outside [0, n-1]
        Assert.Equal(4f, Linear.Sample(img, 0, 2, 2, 2, -0.5, 0, 0, Boundary.Clamped), 5);      // ITK: the edge extends
        Assert.Equal(0f, Linear.Sample(img, 0, 2, 2, 2, -0.5, 0, 0, Boundary.Inside));          // SyN's rule: outside
        foreach (var b in new[] { Boundary.ZeroPadded, Boundary.Constant, Boundary.Clamped, Boundary.Inside })
            Assert.Equal(4f, Linear.Sample(img, 0, 2, 2, 2, 0.3, 0.6, 0.2, b), 5);
        var field = Enumerable.Range(0, 24).Select(i => (float)(i % 3 == 0 ? 4 : i % 3 == 1 ? -2 : 1)).ToArray();
        Assert.False(Linear.SampleField(field, 2, 2, 2, -0.5, 0, 0, Boundary.Inside, out var x, out _, out _));
        Assert.Equal(0, x);
        Assert.True(Linear.SampleField(field, 2, 2, 2, -0.5, 0, 0, Boundary.ZeroPadded, out x, out var y, out _));
        Assert.Equal((2.0, -1.0), (x, y));
        Assert.True(Linear.SampleField(field, 2, 2, 2, -0.5, 0, 0, Boundary.Clamped, out x, out y, out var z));
        Assert.Equal((4.0, -2.0, 1.0), (x, y, z));
        Assert.True(Linear.SampleField(field, 2, 2, 2, 0.5, 0.5, 0.5, Boundary.Inside, out x, out y, out z));
        Assert.Equal((4.0, -2.0, 1.0), (Math.Round(x, 5), Math.Round(y, 5), Math.Round(z, 5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Linear.SampleField(field, 2, 2, 2, 0, 0, 0, Boundary.Constant, out _, out _, out _));
    }

    [Fact]
    public void NearestRoundsTiesDownForDipyAndUpForScipy()
    {
        var d = new float[] { 1, 2, 3 };
        Assert.Equal(1f, Resampler.Nearest(d, 0, 3, 1, 1, 0.5, 0, 0, Boundary.ZeroPadded));
        Assert.Equal(2f, Resampler.Nearest(d, 0, 3, 1, 1, 0.51, 0, 0, Boundary.ZeroPadded));
        Assert.Equal(2f, Resampler.Nearest(d, 0, 3, 1, 1, 0.5, 0, 0, Boundary.Constant));
        Assert.Equal(0f, Resampler.Nearest(d, 0, 3, 1, 1, 2.2, 0, 0, Boundary.ZeroPadded));
        Assert.Equal(0f, Resampler.Nearest(d, 0, 3, 1, 1, 2.2, 0, 0, Boundary.Constant));
        Assert.Equal(0f, Resampler.Nearest(d, 0, 3, 1, 1, -0.2, 0, 0, Boundary.Constant));
    }

    [Fact]
    public void WorldMapShiftsByWholeVoxels()
    {
        var src = Ramp(6, 5, 4, Matrix4.Identity);
        var r = Resampler.Resample(src, src.Grid, Matrix4.Translation(1, 2, 0), Interpolation.Nearest);
        Assert.Equal(src[2, 3, 1], r[1, 1, 1]);
        Assert.Equal(0f, r[5, 4, 0]);
    }
}
