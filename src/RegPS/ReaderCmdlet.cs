using System.Management.Automation;

namespace RegPS;

/// <summary>
/// Base of every cmdlet that reads files: -Path (wildcards, pipeline) and -LiteralPath (alias PSPath, so files piped
/// from Get-ChildItem bind to it), resolved through PowerShell's providers.
/// </summary>
public abstract class ReaderCmdlet : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>The files this record names; those that match nothing are reported as errors and left out.</summary>
    protected IEnumerable<string> InputFiles()
    {
        bool literal = ParameterSetName == "LiteralPath";
        return ResolveInputPaths(literal ? LiteralPath : Path, literal);
    }
}
