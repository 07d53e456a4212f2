using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace RegPS.Completers;

/// <summary>Tab completion for -Initial: the named initialisations (maps and matrices are passed as variables).</summary>
public sealed class InitialCompleter : IArgumentCompleter
{
    private static readonly string[] Names = { "Identity", "CentersOfMass", "GeometricCenters" };

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = wordToComplete.Trim('\'', '"');
        return Names.Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
    }
}
