using System.Globalization;
using System.Management.Automation;
using RegPS.Engine.Templates;

namespace RegPS.Cmdlets;

/// <summary>
/// Returns a TemplateFlow template file (templateflow.api.get), from the shared TemplateFlow cache or downloaded into it.
/// </summary>
[Cmdlet(VerbsCommon.Get, "RegTemplate")]
[OutputType(typeof(FileInfo))]
public sealed class GetRegTemplateCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Template")]
    [ArgumentCompleter(typeof(Completers.TemplateNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter]
    [ValidateRange(1, 99)]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public int? Resolution { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public string Suffix { get; set; } = "T1w";

    [Parameter]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public string? Desc { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public string? Label { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public string? Atlas { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(Completers.TemplateEntityCompleter))]
    public string? Cohort { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Extension { get; set; } = ".nii.gz";

    /// <summary>The TemplateFlow cache folder; default $env:TEMPLATEFLOW_HOME or ~/.cache/templateflow.</summary>
    [Parameter]
    public string? TemplateFlowHome { get; set; }

    [Parameter]
    public Uri? BaseUri { get; set; }

    [Parameter]
    public SwitchParameter Offline { get; set; }

    protected override void ProcessRecord()
    {
        TemplateQuery query;
        TemplateFlowOptions options;
        try
        {
            query = new TemplateQuery(Name) { Resolution = Resolution, Suffix = Suffix, Desc = Desc, Label = Label, Atlas = Atlas, Cohort = Cohort, Extension = Extension };
            options = new TemplateFlowOptions { Offline = Offline };
            if (TemplateFlowHome is not null) options = options with { Home = ResolveOutputPath(TemplateFlowHome) };
            if (BaseUri is not null) options = options with { BaseAddress = BaseUri };
        }
        catch (ArgumentException e)
        {
            WriteInputError(e, "InvalidTemplateQuery", Name);
            return;
        }
        try
        {
            using var client = new TemplateFlowClient(options);
            var activity = $"Get-RegTemplate {query.RelativePath}";
            var file = RunWithProgress<DownloadProgress, TemplateFile>(activity,
                (progress, token) => client.GetAsync(query, progress, token).GetAwaiter().GetResult(),
                p => new ProgressRecord(2, activity, Describe(p)) { PercentComplete = p.Percent is { } pc ? (int)pc : -1 },
                _ => null, 2);
            WriteVerbose(file.Downloaded
                ? $"Downloaded {file.Source} to {file.Path} ({file.Length} bytes, SHA-256 {file.Sha256})"
                : $"Found {file.Path} in the TemplateFlow cache");
            WriteObject(new FileInfo(file.Path));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e is AggregateException { InnerException: { } inner } ? inner : e, "TemplateNotAvailable", query.RelativePath);
        }
    }

    private static string Describe(DownloadProgress p)
    {
        static string Mb(double b) => (b / 1048576).ToString("0.0", CultureInfo.InvariantCulture) + " MB";
        var total = p.TotalBytes is { } t ? " of " + Mb(t) : "";
        return $"{Mb(p.BytesReceived)}{total} at {Mb(p.BytesPerSecond)}/s";
    }
}
