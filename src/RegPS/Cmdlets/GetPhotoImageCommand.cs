using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>Reads PNG and JPEG pictures into 2D image objects (greyscale luminance for registration, colour kept for display).</summary>
[Cmdlet(VerbsCommon.Get, "PhotoImage", DefaultParameterSetName = "Path")]
[OutputType(typeof(Image))]
public sealed class GetPhotoImageCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        bool literal = ParameterSetName == "LiteralPath";
        foreach (var file in ResolveInputPaths(literal ? LiteralPath : Path, literal))
        {
            try
            {
                WriteObject(PhotoIO.Read(file));
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteInputError(e, "PhotoReadFailed", file);
            }
        }
    }
}
