using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>
/// Writes a red/green stereo overlay PNG of two images on one grid (yellow where they agree), of a 2D pair or one
/// slice of a 3D pair, optionally through a registration result (the moving image is then transformed first).
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

    protected override void ProcessRecord()
    {
        Image moving;
        try
        {
            moving = MapApplier.Apply(Map, Moving, Engine.Resampling.Interpolation.Linear, inverse: false, 0);
        }
        catch (ArgumentException e)
        {
            WriteInputError(e, "InvalidMap", Map);
            return;
        }
        var options = new OverlayOptions { Axis = Axis, Slice = Slice, Layout = Layout, Colours = Colours, Scale = Scale };
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
        var s = Reorient.ToIsotropic(Reorient.ToClosestCanonical(@static));
        var m = Reorient.ToIsotropic(Reorient.ToClosestCanonical(moving));
        return (s, m);
    }
}
