using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>Reads PNG and JPEG pictures into 2D image objects (greyscale luminance for registration, colour kept for display).</summary>
[Cmdlet(VerbsCommon.Get, "PhotoImage", DefaultParameterSetName = "Path")]
[OutputType(typeof(Image))]
public sealed class GetPhotoImageCommand : ReaderCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var file in InputFiles())
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
