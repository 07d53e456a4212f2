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

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath")]
    [Alias("PSPath", "LP")]
    public string LiteralPath { get; set; } = "";

    protected override void ProcessRecord()
    {
        var target = ParameterSetName == "LiteralPath" ? LiteralPath : Path;
        WriteOutputFile(target, "Write PNG", (full, overwrite) => PhotoIO.WritePng(Image, full, overwrite));
    }
}
