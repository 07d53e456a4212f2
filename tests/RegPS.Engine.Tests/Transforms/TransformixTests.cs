using System.Globalization;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.Tests.TestSupport;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.Tests.Transforms;

/// <summary>
/// transformix (elastix) applies RegPS's exported ITK affine and ANTs/ITK warp to an image; its output must equal
/// ChainResampler's, away from the borders (where the two tools' edge rules differ).
/// </summary>
public class TransformixTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-tfx-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    // elastix parameter file lines shared by both transforms: the output grid (LPS; identity direction) and resampling.
    private static string GridLines(Grid reference)
    {
        var o = reference.GridToWorld;
        // RAS grid-to-world diag(-s, -s, s): LPS direction identity, LPS origin (-x, -y, z).
        return $"(FixedImageDimension 3)\n(MovingImageDimension 3)\n(FixedInternalImagePixelType \"float\")\n(MovingInternalImagePixelType \"float\")\n" +
               $"(Size {reference.NX} {reference.NY} {reference.NZ})\n(Index 0 0 0)\n" +
               $"(Spacing {F(reference.Spacing[0])} {F(reference.Spacing[1])} {F(reference.Spacing[2])})\n" +
               $"(Origin {F(-o[0, 3])} {F(-o[1, 3])} {F(o[2, 3])})\n(Direction 1 0 0 0 1 0 0 0 1)\n(UseDirectionCosines \"true\")\n" +
               "(ResampleInterpolator \"FinalBSplineInterpolator\")\n(FinalBSplineInterpolationOrder 1)\n(Resampler \"DefaultResampler\")\n" +
               "(DefaultPixelValue 0)\n(ResultImageFormat \"nii\")\n(ResultImagePixelType \"float\")\n(CompressResultImage \"false\")\n";
    }

    [TransformixFact]
    public void TransformixAppliesOurAffineAndWarpAsInvokeRegTransformDoes()
    {
        // Input: a smooth image on an oblique RAS grid. Output grid: 2 mm, LPS-aligned (so elastix's Direction is identity).
        double c = Math.Cos(0.15), s = Math.Sin(0.15);
        var inGrid = new Grid(40, 36, 30, new Matrix4(new double[] { 2 * c, -2 * s, 0, -40, 2 * s, 2 * c, 0, -34, 0, 0, 2, -30, 0, 0, 0, 1 }));
        var v = new float[inGrid.VoxelCount];
        for (int k = 0; k < inGrid.NZ; k++)
            for (int j = 0; j < inGrid.NY; j++)
                for (int i = 0; i < inGrid.NX; i++)
                {
                    var (x, y, z) = inGrid.ToWorld(i, j, k);
                    v[inGrid.Index(i, j, k)] = (float)(100 + 40 * Math.Sin(x / 8) * Math.Cos(y / 10) + 20 * Math.Sin(z / 6));
                }
        var image = new Image(inGrid, v);
        var reference = new Grid(34, 30, 26, new Matrix4(new double[] { -2, 0, 0, 30, 0, -2, 0, 26, 0, 0, 2, -24, 0, 0, 0, 1 }));
        var affine = new Matrix4(new double[] { 0.98, -0.1, 0.03, 2.5, 0.1, 0.99, -0.02, -1.5, -0.03, 0.02, 1.02, 1.2, 0, 0, 0, 1 });
        var fv = new float[reference.VoxelCount * 3];
        for (int k = 0; k < reference.NZ; k++)
            for (int j = 0; j < reference.NY; j++)
                for (int i = 0; i < reference.NX; i++)
                {
                    int o = reference.Index(i, j, k) * 3;
                    fv[o] = (float)(2 * Math.Sin(j / 5.0)); fv[o + 1] = (float)(-1.5 * Math.Cos(i / 6.0)); fv[o + 2] = (float)(Math.Sin((i + k) / 7.0));
                }
        var field = new DisplacementField(reference, fv);

        // What RegPS exports and applies: the chain [affine, warp] (the warp acts first on output points).
        string affinePath = Path.Combine(_dir, "affine.txt"), warpPath = Path.Combine(_dir, "warp.nii"), input = Path.Combine(_dir, "input.nii");
        TransformFile.Save(affinePath, new TransformChain(new[] { new AffineStep(affine) }));
        TransformFile.Save(warpPath, new TransformChain(new[] { new DisplacementFieldStep(field) }));
        NiftiWriter.Write(image, input);
        var chain = TransformChain.Concat(new[] { (TransformFile.Load(affinePath), false), (TransformFile.Load(warpPath), false) });
        var ours = ChainResampler.Apply(NiftiReader.Read(input), reference, chain, Interpolation.Linear);

        // The elastix parameter files take their numbers from the exported ITK text file. elastix composes
        // T(x) = T_current(T_initial(x)), so the warp is the initial transform and the affine the current one.
        var itk = File.ReadAllLines(affinePath);
        string pars = itk.Single(l => l.StartsWith("Parameters:", StringComparison.Ordinal))[11..].Trim();
        string centre = itk.Single(l => l.StartsWith("FixedParameters:", StringComparison.Ordinal))[16..].Trim();
        string warpParams = Path.Combine(_dir, "TransformParameters.warp.txt"), affineParams = Path.Combine(_dir, "TransformParameters.affine.txt");
        File.WriteAllText(warpParams, "(Transform \"DeformationFieldTransform\")\n(NumberOfParameters 0)\n" +
            $"(DeformationFieldFileName \"{warpPath}\")\n(DeformationFieldInterpolationOrder 1)\n" +
            "(InitialTransformParametersFileName \"NoInitialTransform\")\n(HowToCombineTransforms \"Compose\")\n" + GridLines(reference));
        File.WriteAllText(affineParams, "(Transform \"AffineTransform\")\n(NumberOfParameters 12)\n" +
            $"(TransformParameters {pars})\n(CenterOfRotationPoint {centre})\n" +
            $"(InitialTransformParametersFileName \"{warpParams}\")\n(HowToCombineTransforms \"Compose\")\n" + GridLines(reference));
        var outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        Transformix.Run("-in", input, "-out", outDir, "-tp", affineParams);
        var theirs = NiftiReader.Read(Path.Combine(outDir, "result.nii"));

        Assert.True(theirs.Grid.SameAs(reference, 1e-4), $"transformix grid {theirs.Grid} vs {reference}");
        var identity = ChainResampler.Apply(image, reference, new TransformChain(Array.Empty<TransformStep>()), Interpolation.Linear);
        int n = 0;
        double max = 0, moved = 0;
        for (int k = 3; k < reference.NZ - 3; k++)
            for (int j = 3; j < reference.NY - 3; j++)
                for (int i = 3; i < reference.NX - 3; i++)
                {
                    int idx = reference.Index(i, j, k);
                    // away from the input's borders, where the tools' edge rules differ (ITK clamps, elastix mirrors)
                    var (wx, wy, wz) = reference.ToWorld(i, j, k);
                    var (px, py, pz) = chain.Apply(wx, wy, wz);
                    var (ii, jj, kk) = inGrid.ToIndex(px, py, pz);
                    if (ii < 1.5 || jj < 1.5 || kk < 1.5 || ii > inGrid.NX - 2.5 || jj > inGrid.NY - 2.5 || kk > inGrid.NZ - 2.5) continue;
                    max = Math.Max(max, Math.Abs(ours.Voxels[idx] - theirs.Voxels[idx]));
                    moved = Math.Max(moved, Math.Abs(ours.Voxels[idx] - identity.Voxels[idx]));
                    n++;
                }
        Assert.True(n > reference.VoxelCount / 4, $"only {n} voxels compared");
        Assert.True(moved > 5, "the transforms should change the image");
        Assert.True(max < 1e-3, $"RegPS and transformix differ by up to {max} (values 40..160)");
    }
}
