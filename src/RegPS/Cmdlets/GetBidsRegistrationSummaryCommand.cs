using System.Management.Automation;
using RegPS.Engine.Pipelines;

namespace RegPS.Cmdlets;

/// <summary>
/// Summarises a dataset run from its derivatives folder: which inputs are done (registered or skipped by the last run),
/// which failed and why, which are missing (never run, or stopped before they finished). Reads the RegPS sidecars and
/// the records Invoke-BidsRegistration -LogDirectory writes (New-BidsSlurmJob's tasks write them to &lt;OutputRoot&gt;/logs).
/// </summary>
[Cmdlet(VerbsCommon.Get, "BidsRegistrationSummary", DefaultParameterSetName = "All")]
[OutputType(typeof(RegistrationSummary))]
public sealed class GetBidsRegistrationSummaryCommand : RegCmdlet
{
    /// <summary>The derivatives folder the run wrote to.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string OutputRoot { get; set; } = "";

    /// <summary>The inputs to summarise (each is reported, Missing when nothing is known of it); default: every input the folder knows.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Only this template space.</summary>
    [Parameter]
    [ValidatePattern("^[a-zA-Z0-9]+$")]
    public string? TemplateName { get; set; }

    /// <summary>The folder of subject records; default &lt;OutputRoot&gt;/logs.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogDirectory { get; set; }

    private readonly List<string> _inputs = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "All") return;
        bool literal = ParameterSetName == "LiteralPath";
        _inputs.AddRange(ResolveInputPaths(literal ? LiteralPath : Path, literal));
    }

    protected override void EndProcessing()
    {
        try
        {
            var root = ResolveOutputPath(OutputRoot);
            var logs = LogDirectory is null ? System.IO.Path.Combine(root, "logs") : ResolveOutputPath(LogDirectory);
            var summary = RegistrationSummary.Read(root, logs, ParameterSetName == "All" ? null : _inputs, TemplateName);
            WriteObject(summary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "SummaryFailed", e is DirectoryNotFoundException ? ErrorCategory.ObjectNotFound : ErrorCategory.ReadError, OutputRoot));
        }
    }
}
