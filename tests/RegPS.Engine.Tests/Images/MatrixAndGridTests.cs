using RegPS.Engine.Images;

namespace RegPS.Engine.Tests.Images;

public class MatrixAndGridTests
{
    [Fact]
    public void InverseTimesMatrixIsIdentity()
    {
        var m = new Matrix4(new double[] { 0.9, 0.1, -0.2, 12, -0.15, 1.1, 0.05, -3, 0.2, 0.0, 0.95, 7, 0, 0, 0, 1 });
        var p = m * m.Inverse();
        Assert.True(p.MaxAbsDifference(Matrix4.Identity) < 1e-12);
    }

    [Fact]
    public void SingularMatrixHasNoInverse()
    {
        var m = Matrix4.Scaling(1, 0, 1);
        Assert.False(m.TryInverse(out _));
        Assert.Throws<ArgumentException>(() => new Grid(2, 2, 2, m));
    }

    [Theory]
    [InlineData(1, 1, 1, "RAS")]
    [InlineData(-1, -1, 1, "LPS")]
    [InlineData(-1, 1, 1, "LAS")]
    public void OrientationCodesFollowAxisSigns(double sx, double sy, double sz, string expected)
    {
        var g = new Grid(4, 4, 4, Matrix4.Scaling(sx * 2, sy * 2, sz * 3));
        Assert.Equal(expected, g.Orientation);
        Assert.Equal(new[] { 2.0, 2.0, 3.0 }, g.Spacing);
    }

    [Fact]
    public void PermutedAxesAreNamed()
    {
        // voxel i runs along world y (anterior), j along -x (left), k along z.
        var m = new Matrix4(new double[] { 0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 });
        Assert.Equal("ALS", new Grid(3, 3, 3, m).Orientation);
    }

    [Fact]
    public void ImageRejectsWrongVoxelCount()
    {
        Assert.Throws<ArgumentException>(() => new Image(Grid.Create3D(2, 2, 2), new float[7]));
        var img = new Image(Grid.Create3D(2, 2, 2), Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), volumes: 2);
        Assert.Equal(8f, img.Volume(1)[0, 0, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => img.Volume(2));
    }
}
