using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Cmdlets;

/// <summary>Reads NIfTI-1/NIfTI-2 images (.nii, .nii.gz, .nii.bz2, .hdr/.img) into image objects.</summary>
[Cmdlet(VerbsCommon.Get, "NiftiImage", DefaultParameterSetName = "Path")]
[OutputType(typeof(Image))]
public sealed class GetNiftiImageCommand : ReaderCmdlet
{
    /// <summary>Read only this volume (0-based) of a 4D file.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Volume { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in InputFiles())
        {
            StopToken.ThrowIfCancellationRequested();
            try
            {
                WriteVerbose($"Reading {file}");
                var image = NiftiReader.Read(file, Volume, StopToken);
                // nibabel's load-time repairs (zero pixdim, odd qfac, out-of-range codes) are applied and said aloud.
                foreach (var w in image.SourceHeader?.Warnings ?? Enumerable.Empty<string>()) WriteWarning($"{file}: {w}");
                WriteObject(image);
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteInputError(e, "NiftiReadFailed", file);
            }
        }
    }
}
