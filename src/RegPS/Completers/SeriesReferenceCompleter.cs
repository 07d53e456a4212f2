using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace RegPS.Completers;

/// <summary>Tab completion for Register-ImageSeries -Reference: the named references (indices and images are typed or passed as variables).</summary>
public sealed class SeriesReferenceCompleter : IArgumentCompleter
{
    private static readonly string[] Names = { "Middle", "Mean", "First" };

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        return Names.Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
    }
}
