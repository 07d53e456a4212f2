using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Resampling;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>
/// Writes a red/green stereo overlay PNG of two images (yellow where they agree), of a 2D pair or one anatomical slice
/// of a 3D pair, optionally through a registration result (the moving image is then transformed first). A moving image
/// on another grid is resampled onto the static grid (a "before" picture).
/// </summary>
[Cmdlet(VerbsData.Export, "StereoOverlay", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportStereoOverlayCommand : WriterCmdlet
{
    [Parameter(Mandatory = true)]
    [Alias("Fixed", "Reference")]
    public Image Static { get; set; } = null!;

    [Parameter(Mandatory = true)]
    public Image Moving { get; set; } = null!;

    /// <summary>A registration result (AffineMap or DiffeomorphicMap): the overlay shows Map.Transform(Moving).</summary>
    [Parameter(ValueFromPipeline = true)]
    public object? Map { get; set; }

    [Parameter]
    public SliceAxis Axis { get; set; } = SliceAxis.Axial;

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Slice { get; set; }

    [Parameter]
    public OverlayLayout Layout { get; set; } = OverlayLayout.Overlay;

    [Parameter]
    public OverlayColours Colours { get; set; } = OverlayColours.RedGreen;

    [Parameter]
    [ValidateRange(1, 64)]
    public int? Scale { get; set; }

    /// <summary>A title over the overlay.</summary>
    [Parameter]
    public string? Title { get; set; }

    /// <summary>A title over the static panel (-Layout ThreePanel).</summary>
    [Parameter]
    public string? StaticTitle { get; set; }

    /// <summary>A title over the moving panel (-Layout ThreePanel).</summary>
    [Parameter]
    public string? MovingTitle { get; set; }

    /// <summary>Letters at the edges of each panel saying which way each faces (R/L, A/P, S/I); 3D images only.</summary>
    [Parameter]
    public SwitchParameter OrientationLetters { get; set; }

    protected override void ProcessRecord()
    {
        Image moving;
        try
        {
            moving = MapApplier.Apply(Map, Moving, Interpolation.Linear, inverse: false, 0);
            // A colour photo keeps its colours through the map: each colour plane is transformed the same way.
            if (Map is not null && Moving.IsColour && !moving.IsColour) moving = WithColour(moving, Moving);
        }
        catch (ArgumentException e)
        {
            WriteInputError(e, "InvalidMap", Map);
            return;
        }
        if (!moving.Grid.SameAs(Static.Grid) && moving.Volumes == 1 && moving.Dimension == Static.Dimension)
        {
            WriteVerbose($"The moving image ({moving.Grid}) is not on the static grid ({Static.Grid}): resampled onto it (linear, 0 outside) for the overlay.");
            moving = ResampleKeepingColour(moving, Static.Grid);
        }
        var options = new OverlayOptions
        {
            Axis = Axis, Slice = Slice, Layout = Layout, Colours = Colours, Scale = Scale,
            OverlayTitle = Title, StaticTitle = StaticTitle, MovingTitle = MovingTitle, OrientationLetters = OrientationLetters,
        };
        var target = TargetPath;
        WriteOutputFile(target, "Write stereo overlay PNG", (full, overwrite) =>
        {
            var (s, m) = ForDisplay(Static, moving);
            StereoOverlay.WritePng(s, m, full, options, overwrite);
        });
    }

    /// <summary>
    /// 3D pairs are shown in the closest RAS orientation with cubic voxels, so Axial/Coronal/Sagittal name anatomical
    /// planes whatever the file's storage order, superior/anterior is up, and anisotropic volumes are not squashed.
    /// Images on different grids are passed on unchanged, for the renderer to refuse with its guidance.
    /// </summary>
    internal static (Image Static, Image Moving) ForDisplay(Image @static, Image moving)
    {
        if (@static.Dimension != 3 || !@static.Grid.SameAs(moving.Grid)) return (@static, moving);
        return (Display(@static), Display(moving));
    }

    /// <summary>A 3D image on <see cref="Reorient.DisplayGrid"/> (closest RAS, cubic voxels); 2D images as they are.</summary>
    internal static Image Display(Image image) =>
        image.Dimension != 3 ? image : Reorient.ToIsotropic(Reorient.ToClosestCanonical(image));

    /// <summary>The grey image <paramref name="transformed"/> with the colour planes of <paramref name="source"/> transformed through the same map.</summary>
    private Image WithColour(Image transformed, Image source)
    {
        var g = source.Grid;
        int n = transformed.Grid.VoxelCount;
        var colour = new float[3 * n];
        for (int c = 0; c < 3; c++)
        {
            var channel = new Image(g, source.ColourPlanes.Slice(c * g.VoxelCount, g.VoxelCount).ToArray());
            var warped = MapApplier.Apply(Map, channel, Interpolation.Linear, inverse: false, 0);
            Array.Copy(warped.ToArray(), 0, colour, c * n, n);
        }
        return new Image(transformed.Grid, transformed.ToArray(), 1, colour, transformed.SourcePath, transformed.DataType);
    }

    private static Image ResampleKeepingColour(Image image, Grid grid)
    {
        var grey = Resampler.Resample(image, grid, null, Interpolation.Linear, Boundary.Constant, 0);
        if (!image.IsColour) return grey;
        var colour = new float[3 * grid.VoxelCount];
        for (int c = 0; c < 3; c++)
        {
            var channel = new Image(image.Grid, image.ColourPlanes.Slice(c * image.Grid.VoxelCount, image.Grid.VoxelCount).ToArray());
            Array.Copy(Resampler.Resample(channel, grid, null, Interpolation.Linear, Boundary.Constant, 0).ToArray(), 0, colour, c * grid.VoxelCount, grid.VoxelCount);
        }
        return new Image(grid, grey.ToArray(), 1, colour, image.SourcePath, image.DataType);
    }
}
