using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Tests.Registration;

public class InputChecksTests
{
    private const string File = "/data/sub-01/anat/sub-01_T1w.nii.gz";

    private static Image Ramp(string? path, Func<int, float>? value = null)
    {
        var g = Grid.Create2D(16, 12);
        var v = Enumerable.Range(0, g.VoxelCount).Select(i => value?.Invoke(i) ?? i).ToArray();
        return new Image(g, v, 1, null, path, "float32");
    }

    [Fact]
    public void AnAllNaNImageIsCalledThatAndNamedNotConstant()
    {
        var ex = Assert.Throws<ArgumentException>(() => InputChecks.ForAffine(Ramp(File, _ => float.NaN), "static", null));
        Assert.Contains($"The static image '{File}' has no finite voxels", ex.Message);
        Assert.DoesNotContain("constant", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => InputChecks.ForSyn(Ramp(File, _ => float.NaN), "moving"));
        Assert.Contains($"The moving image '{File}' has no finite voxels: all 192", ex.Message);
    }

    [Fact]
    public void AnAllZeroMaskIsCalledThatNotAConstantImage()
    {
        var mask = new Image(Grid.Create2D(16, 12), new float[192], 1, null, "/data/mask.nii.gz", "uint8");
        var ex = Assert.Throws<ArgumentException>(() => InputChecks.ForAffine(Ramp(File), "static", mask));
        Assert.Contains("The static mask '/data/mask.nii.gz' is all zero", ex.Message);
        Assert.Contains(File, ex.Message);
        Assert.DoesNotContain("constant", ex.Message);
    }

    [Fact]
    public void ConstantInsideTheMaskAndConstantEverywhereAreNamed()
    {
        // Varies outside the mask, constant (7) inside it.
        var img = Ramp(null, i => i < 96 ? 7 : i);
        var mask = new Image(Grid.Create2D(16, 12), Enumerable.Range(0, 192).Select(i => i < 96 ? 1f : 0f).ToArray());
        var ex = Assert.Throws<ArgumentException>(() => InputChecks.ForAffine(img, "moving", mask));
        Assert.Contains("The moving image (16x12 grid, made in memory) is constant inside its mask (every finite voxel is 7)", ex.Message);
        InputChecks.ForAffine(img, "moving", null); // without the mask it varies

        ex = Assert.Throws<ArgumentException>(() => InputChecks.ForSyn(Ramp(File, _ => 3), "static"));
        Assert.Contains($"'{File}' is constant", ex.Message);
    }

    [Fact]
    public void SynNamesTheFileAndCountsNaNVoxels()
    {
        var moving = Ramp(File, i => i % 50 == 3 ? float.NaN : i);
        var ex = Assert.Throws<ArgumentException>(() => SynRegistration.Register(Ramp(null), moving, null, new SynOptions()));
        Assert.Contains($"The moving image '{File}' has 4 NaN or infinite voxel(s) (the first at index 3)", ex.Message);
    }

    [Fact]
    public void UsableImagesPass()
    {
        InputChecks.ForAffine(Ramp(File, i => i == 5 ? float.NaN : i), "static", null); // a NaN among finite voxels is the engine's business
        InputChecks.ForSyn(Ramp(File), "static");
    }
}
