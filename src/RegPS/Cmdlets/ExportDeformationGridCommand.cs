using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>
/// Draws a registration result as a warped regular grid (DIPY's plot_diffeomorphic_map): straight lines where nothing
/// moved, bent where it did, over an optional semi-transparent underlay; 2D, or one anatomical slice of 3D drawn in
/// millimetres with cubic pixels (the plane and the pixels Export-StereoOverlay uses for the same slice). A
/// DiffeomorphicMap draws its field (the deformation beyond the prealign); an AffineMap draws the whole affine.
/// </summary>
[Cmdlet(VerbsData.Export, "DeformationGrid", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportDeformationGridCommand : WriterCmdlet
{
    /// <summary>A DiffeomorphicMap (Register-SynImage) or an AffineMap (Register-AffineImage).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public object Map { get; set; } = null!;

    /// <summary>Draw the inverse: the backward field of a DiffeomorphicMap, the inverse affine (on the moving grid) of an AffineMap.</summary>
    [Parameter]
    public SwitchParameter Inverse { get; set; }

    /// <summary>An image drawn semi-transparent under the lines; resampled onto the map's static grid when it lies elsewhere.</summary>
    [Parameter]
    public Image? Underlay { get; set; }

    [Parameter]
    public SliceAxis Axis { get; set; } = SliceAxis.Axial;

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Slice { get; set; }

    [Parameter]
    [ValidateRange(2, 256)]
    public int LineSpacing { get; set; } = 8;

    [Parameter]
    [ValidateRange(1, 64)]
    public int? Scale { get; set; }

    /// <summary>A title drawn above the grid.</summary>
    [Parameter]
    public string? Title { get; set; }

    /// <summary>Letters at the edges saying which way each faces (R/L, A/P, S/I); 3D maps only.</summary>
    [Parameter]
    public SwitchParameter OrientationLetters { get; set; }

    protected override void ProcessRecord()
    {
        Grid domain;
        Func<double, double, double, (double, double, double)> displacement;
        switch (Remoting.DeserializingConverter.Unwrap(Map))
        {
            case DiffeomorphicMap d:
                domain = d.Domain;
                displacement = MapGrid.Of(d, backward: Inverse);
                break;
            case AffineMap a:
                domain = Inverse ? a.Codomain : a.Domain;
                displacement = MapGrid.Of(Inverse ? a.Inverse() : a);
                break;
            case var other:
                WriteError(new ErrorRecord(new ArgumentException($"-Map takes a DiffeomorphicMap or an AffineMap (Register-SynImage, Register-AffineImage, Import-RegTransform); got {other?.GetType().Name ?? "nothing"}."),
                    "InvalidMap", ErrorCategory.InvalidArgument, Map));
                return;
        }
        Grid plane;
        float[] dx, dy;
        Image? underlay = null;
        try
        {
            (plane, dx, dy) = MapGrid.Sample(domain, displacement, Axis, Slice);
            if (Underlay is not null)
            {
                var u = Underlay.Volumes > 1 ? Underlay.Volume(0) : Underlay;
                if (!u.Grid.SameAs(domain))
                {
                    WriteVerbose($"The underlay ({u.Grid}) is not on the map's static grid ({domain}): resampled onto it (linear).");
                    u = Resampler.Resample(u, domain, null, Interpolation.Linear, Boundary.Constant, 0);
                }
                underlay = domain.Dimension == 2 ? u : Slices.Extract(ExportStereoOverlayCommand.Display(u), Axis, Slice);
            }
        }
        catch (ArgumentException e)
        {
            WriteInputError(e, "InvalidSlice", Slice);
            return;
        }
        if (domain.Dimension == 3)
            WriteVerbose($"Drawing the {Axis.ToString().ToLowerInvariant()} plane of {Reorient.DisplayGrid(domain)} (anatomical axes, cubic voxels of the smallest spacing), {plane.NX}x{plane.NY} voxels.");
        var options = new DeformationGridOptions { LineSpacing = LineSpacing, Scale = Scale, Underlay = underlay, Title = Title, OrientationLetters = OrientationLetters };
        var target = TargetPath;
        WriteOutputFile(target, "Write deformation grid PNG", (full, overwrite) => DeformationGrid.WritePng(plane, dx, dy, full, options, overwrite));
    }
}
