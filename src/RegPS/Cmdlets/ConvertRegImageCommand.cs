using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Resampling;

namespace RegPS.Cmdlets;

/// <summary>
/// Resamples an image into another image's grid using both headers (nibabel's resample_from_to): the way a T1w is
/// put into a template's space before registration, or a label image onto another grid with -Interpolation Nearest.
/// </summary>
[Cmdlet(VerbsData.Convert, "RegImage")]
[OutputType(typeof(Image))]
public sealed class ConvertRegImageCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;

    /// <summary>The image whose grid (shape and grid-to-world matrix) the output takes.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Target")]
    public Image Reference { get; set; } = null!;

    [Parameter]
    public Interpolation Interpolation { get; set; } = Interpolation.Linear;

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    protected override void ProcessRecord()
    {
        if (Image.Dimension != Reference.Dimension)
        {
            WriteError(new ErrorRecord(new ArgumentException($"Cannot resample a {Image.Dimension}D image into a {Reference.Dimension}D grid."),
                "DimensionMismatch", ErrorCategory.InvalidArgument, Image));
            return;
        }
        WriteObject(Resampler.Resample(Image, Reference.Grid, null, Interpolation, Boundary.Constant, MaxDegreeOfParallelism));
    }
}
