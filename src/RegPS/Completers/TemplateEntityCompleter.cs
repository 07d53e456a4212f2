using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text.Json;
using System.Text.RegularExpressions;
using RegPS.Engine.Templates;

namespace RegPS.Completers;

/// <summary>
/// Tab completion of Get-RegTemplate's TemplateFlow entities (-Suffix, -Resolution, -Desc, -Label, -Atlas, -Cohort):
/// the values in the names of the files already in the cache (of the template given with -Name, or of every cached
/// template), the resolutions its template_description.json lists, and for -Suffix and -Desc the values TemplateFlow's
/// brain templates commonly use. The cache is read, never the network.
/// </summary>
public sealed partial class TemplateEntityCompleter : IArgumentCompleter
{
    /// <summary>Suffixes and descriptions the common TemplateFlow templates use, offered even before anything is cached.</summary>
    internal static readonly string[] CommonSuffixes = { "T1w", "T2w", "PD", "mask", "dseg", "probseg" };
    internal static readonly string[] CommonDescs = { "brain", "head", "fMRIPrep", "carpet" };

    private const int MaxFiles = 20000;

    [GeneratedRegex(@"^tpl-[A-Za-z0-9]+(?:_[a-z]+-[A-Za-z0-9]+)*_([A-Za-z0-9]+)\.")]
    private static partial Regex SuffixPattern();

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        var values = new SortedSet<string>(StringComparer.Ordinal);
        string entity = parameterName.ToLowerInvariant() switch
        {
            "resolution" => "res",
            "suffix" => "",
            var other => other, // desc, label, atlas, cohort: the entity is the parameter's name
        };
        if (entity == "") values.UnionWith(CommonSuffixes);
        if (entity == "desc") values.UnionWith(CommonDescs);
        try
        {
            var home = fakeBoundParameters["TemplateFlowHome"] as string;
            var options = home is null ? new TemplateFlowOptions() : new TemplateFlowOptions { Home = home };
            var root = Path.GetFullPath(options.Home);
            var name = (fakeBoundParameters["Name"] ?? fakeBoundParameters["Template"]) as string;
            if (Directory.Exists(root))
            {
                var folders = name is { Length: > 0 } && Directory.Exists(Path.Combine(root, "tpl-" + name))
                    ? new[] { Path.Combine(root, "tpl-" + name) }
                    : Directory.EnumerateDirectories(root, "tpl-*").ToArray();
                var entityPattern = entity == "" ? null : new Regex("_" + entity + "-([A-Za-z0-9]+)(?=[_.])", RegexOptions.CultureInvariant);
                int seen = 0;
                foreach (var folder in folders)
                {
                    foreach (var file in Directory.EnumerateFiles(folder, "tpl-*", SearchOption.AllDirectories))
                    {
                        if (++seen > MaxFiles) break;
                        var fileName = Path.GetFileName(file);
                        if (entityPattern is null)
                        {
                            var m = SuffixPattern().Match(fileName);
                            if (m.Success) values.Add(m.Groups[1].Value);
                        }
                        else
                        {
                            foreach (Match m in entityPattern.Matches(fileName)) values.Add(Normalise(entity, m.Groups[1].Value));
                        }
                    }
                    if (entity == "res") values.UnionWith(DescribedResolutions(Path.Combine(folder, "template_description.json")));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or JsonException)
        {
            // An unreadable cache completes with what is known.
        }
        return values.Where(v => v.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .OrderBy(v => entity == "res" && int.TryParse(v, out var n) ? n : int.MaxValue).ThenBy(v => v, StringComparer.Ordinal)
            .Select(v => new CompletionResult(v, v, CompletionResultType.ParameterValue, v));
    }

    /// <summary>-Resolution takes a number: res-01 and res-1 both complete as 1.</summary>
    private static string Normalise(string entity, string value) =>
        entity == "res" && int.TryParse(value, out var n) ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : value;

    /// <summary>The resolution indices a template_description.json lists under "res" (TemplateFlow's layout), as numbers.</summary>
    private static IEnumerable<string> DescribedResolutions(string path)
    {
        if (!File.Exists(path)) return Array.Empty<string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (!doc.RootElement.TryGetProperty("res", out var res) || res.ValueKind != JsonValueKind.Object) return Array.Empty<string>();
        return res.EnumerateObject().Select(p => Normalise("res", p.Name)).ToArray();
    }
}
