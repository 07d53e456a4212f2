using RegPS.Engine.Images;

namespace RegPS.Engine.Tests.Images;

public class ReorientTests
{
    // The sample T1's header: LSA with 2x2x3 mm voxels.
    private static readonly Matrix4 Lsa = new(new double[] { -2, 0, 0, 0, 0, 0, 3, -254, 0, 2, 0, 0, 0, 0, 0, 1 });

    private static Image Numbered(Grid g) => new(g, Enumerable.Range(0, g.VoxelCount).Select(i => (float)i).ToArray());

    [Fact]
    public void ClosestCanonicalKeepsEveryVoxelAtItsWorldPosition()
    {
        var img = Numbered(new Grid(5, 4, 3, Lsa));
        var ras = Reorient.ToClosestCanonical(img);
        Assert.Equal("RAS", ras.Grid.Orientation);
        Assert.Equal(new[] { 5, 3, 4 }, ras.Grid.Shape);
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 3; j++)
                for (int i = 0; i < 5; i++)
                {
                    var (x, y, z) = ras.Grid.ToWorld(i, j, k);
                    var (a, b, c) = img.Grid.ToIndex(x, y, z);
                    int oi = (int)Math.Round(a), oj = (int)Math.Round(b), ok = (int)Math.Round(c);
                    Assert.True(Math.Abs(a - oi) + Math.Abs(b - oj) + Math.Abs(c - ok) < 1e-9);
                    Assert.Equal(img[oi, oj, ok], ras[i, j, k]);
                }
    }

    [Fact]
    public void RasImagesAreLeftAlone()
    {
        var img = Numbered(Grid.Create3D(3, 3, 3));
        Assert.Same(img, Reorient.ToClosestCanonical(img));
    }

    [Fact]
    public void IsotropicResamplingKeepsTheExtentAndALinearRamp()
    {
        var g = Grid.Create3D(4, 4, 3, 1, 1, 3);
        var img = new Image(g, Enumerable.Range(0, g.VoxelCount).Select(i => (float)(3 * (i / 16))).ToArray()); // value = z in mm
        var iso = Reorient.ToIsotropic(img);
        Assert.Equal(new[] { 4, 4, 7 }, iso.Grid.Shape);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, iso.Grid.Spacing);
        for (int k = 0; k < 7; k++) Assert.Equal(k, iso[1, 2, k], 4);
    }
}
