using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using RegPS.Engine.Templates;

namespace RegPS.Completers;

/// <summary>Tab completion of TemplateFlow template names: the common ones and those already in the local cache.</summary>
public sealed class TemplateNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        IEnumerable<string> cached;
        try
        {
            var home = fakeBoundParameters["TemplateFlowHome"] as string;
            var options = home is null ? new TemplateFlowOptions() : new TemplateFlowOptions { Home = home };
            using var client = new TemplateFlowClient(options with { Offline = true });
            cached = client.CachedTemplates().ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            cached = Array.Empty<string>();
        }
        return TemplateFlowClient.KnownTemplates.Concat(cached).Distinct(StringComparer.Ordinal)
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .OrderBy(n => n, StringComparer.Ordinal)
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
    }
}
