using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>Writes a 2D image (or one slice of a 3D image) as an 8-bit PNG.</summary>
[Cmdlet(VerbsData.Export, "PhotoImage", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportPhotoImageCommand : WriterCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;


    /// <summary>
    /// How voxel values become 0..255: Raw (round and clamp) or MinMax (stretch). Default: Raw for images read from
    /// 8-bit pictures or files (uint8, rgb24), so they are written back unchanged; MinMax for anything else.
    /// </summary>
    [Parameter]
    public PngIntensity? Intensity { get; set; }

    protected override void ProcessRecord()
    {
        var target = TargetPath;
        var intensity = Intensity ?? (Image.DataType is "uint8" or "rgb24" ? PngIntensity.Raw : PngIntensity.MinMax);
        WriteOutputFile(target, "Write PNG", (full, overwrite) => PhotoIO.WritePng(Image, full, overwrite, intensity));
    }
}
