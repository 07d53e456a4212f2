using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>
/// Draws a diffeomorphic map's deformation as a warped regular grid (DIPY's plot_diffeomorphic_map): straight lines
/// where nothing moved, bent where it did, over an optional semi-transparent underlay; 2D, or one slice of 3D.
/// </summary>
[Cmdlet(VerbsData.Export, "DeformationGrid", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportDeformationGridCommand : WriterCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public DiffeomorphicMap Map { get; set; } = null!;


    /// <summary>Draw the inverse (backward) field instead of the forward one.</summary>
    [Parameter]
    public SwitchParameter Inverse { get; set; }

    /// <summary>An image on the map's static grid drawn semi-transparent under the lines.</summary>
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

    protected override void ProcessRecord()
    {
        var field = Inverse ? Map.Backward : Map.Forward;
        var g = field.Grid;
        if (Underlay is not null && !Underlay.Grid.SameAs(g))
        {
            WriteError(new ErrorRecord(new ArgumentException("The underlay must lie on the map's static grid (Map.Domain); resample it with Convert-RegImage first."),
                "UnderlayGridMismatch", ErrorCategory.InvalidArgument, Underlay));
            return;
        }
        // -Axis names an anatomical plane: cut across the voxel axis that runs closest to x (sagittal), y (coronal) or
        // z (axial), so an LSA file gives the same plane as an RAS one (Export-StereoOverlay shows the same planes).
        int world = Axis switch { SliceAxis.Sagittal => 0, SliceAxis.Coronal => 1, _ => 2 };
        int axis = g.Dimension == 2 ? 2 : Array.FindIndex(Reorient.AxisMap(g), m => m.World == world);
        var voxelAxis = axis switch { 0 => SliceAxis.Sagittal, 1 => SliceAxis.Coronal, _ => SliceAxis.Axial };
        int slice;
        Grid plane;
        Image? underlay;
        try
        {
            slice = g.Dimension == 2 ? 0 : Slices.ResolveSlice(g, voxelAxis, Slice);
            plane = g.Dimension == 2 ? g : Slices.PlaneGrid(g, voxelAxis, slice);
            underlay = Underlay is null ? null : g.Dimension == 2 ? Underlay : Slices.Extract(Underlay, voxelAxis, slice);
        }
        catch (ArgumentException e)
        {
            WriteInputError(e, "InvalidSlice", Slice);
            return;
        }
        var (dx, dy, _, _) = field.SliceInVoxels(axis, slice);
        var options = new DeformationGridOptions { LineSpacing = LineSpacing, Scale = Scale, Underlay = underlay };
        var target = TargetPath;
        WriteOutputFile(target, "Write deformation grid PNG", (full, overwrite) => DeformationGrid.WritePng(plane, dx, dy, full, options, overwrite));
    }
}
