using System.Management.Automation;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Writes a motion-correction result's parameters as a BIDS confounds TSV (with its JSON sidecar), an FSL .par or an
/// SPM rp_*.txt file.
/// </summary>
[Cmdlet(VerbsData.Export, "MotionParameters", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportMotionParametersCommand : WriterCmdlet
{
    /// <summary>The result of Register-ImageSeries.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public MotionCorrectionResult InputObject { get; set; } = null!;

    /// <summary>Bids (.tsv + .json), Fsl (.par) or Spm (rp_*.txt); by default taken from the file's extension.</summary>
    [Parameter]
    public MotionFileFormat? Format { get; set; }

    protected override void ProcessRecord()
    {
        var target = TargetPath;
        var format = Format ?? MotionParameterFile.FormatFromPath(target);
        if (format is null)
        {
            WriteError(new ErrorRecord(new ArgumentException(
                    $"Cannot tell the format of '{target}' from its extension; use .tsv (BIDS), .par (FSL) or .txt (SPM rp_), or pass -Format."),
                "UnknownMotionFormat", ErrorCategory.InvalidArgument, target));
            return;
        }
        var parameters = InputObject.Parameters;
        bool written = false;
        WriteOutputFile(target, $"Write {format} motion parameters ({InputObject.Volumes} volumes)",
            (full, overwrite) => { MotionParameterFile.Write(parameters, full, format.Value, overwrite, StopToken); written = true; });
        // The sidecar follows its TSV: written when the TSV was, shown when -WhatIf showed the TSV.
        if (format == MotionFileFormat.Bids && (written || MyInvocation.BoundParameters.ContainsKey("WhatIf")))
        {
            string full;
            try { full = ResolveOutputPath(target); }
            catch (Exception e) when (e is not PipelineStoppedException) { return; } // reported above
            WriteOutputFile(MotionParameterFile.SidecarPath(full), "Write the JSON sidecar of the confounds TSV",
                (json, overwrite) => MotionParameterFile.WriteSidecar(InputObject, json, overwrite, StopToken));
        }
    }
}
