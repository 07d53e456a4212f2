using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Pipelines;

namespace RegPS;

/// <summary>
/// Gives a registration result (AffineMap, DiffeomorphicMap) the inputs it came from as PowerShell properties, so a
/// batch's results say which file and which BIDS subject/session each belongs to and can be sorted, grouped and filtered:
/// StaticFile/MovingFile (file names), StaticPath/MovingPath (full paths), Subject/Session (BIDS labels parsed from the
/// moving file's name, e.g. '01' and '1' for sub-01_ses-1_T1w.nii.gz, as Invoke-BidsRegistration reports them; null when
/// the name carries none) and Moving (the moving image itself, so `Register-AffineImage | Register-SynImage` can take it).
/// They are instance properties of the object written to the pipeline, which PowerShell keeps with the object.
/// </summary>
internal static class ResultSources
{
    public static PSObject Attach(object result, Image @static, Image moving)
    {
        var pso = PSObject.AsPSObject(result);
        var (subject, session) = BidsLabels(moving.SourcePath);
        Add(pso, "StaticFile", NullIfEmpty(@static.FileName));
        Add(pso, "MovingFile", NullIfEmpty(moving.FileName));
        Add(pso, "StaticPath", @static.SourcePath);
        Add(pso, "MovingPath", moving.SourcePath);
        Add(pso, "Subject", subject);
        Add(pso, "Session", session);
        Add(pso, "Moving", moving);
        return pso;
    }

    /// <summary>The sub- and ses- labels of a BIDS-like file name (entities anywhere in the name, folders ignored); nulls otherwise.</summary>
    internal static (string? Subject, string? Session) BidsLabels(string? path)
    {
        if (string.IsNullOrEmpty(path)) return (null, null);
        try
        {
            var name = BidsName.Parse(path);
            return (name.Subject, name.Session);
        }
        catch (ArgumentException)
        {
            // Not a strict BIDS name (e.g. sub-01_T1w.nii.gz under a folder of another subject, or a .mgz): read the
            // key-value pairs of the file name alone.
            string? sub = null, ses = null;
            foreach (var part in System.IO.Path.GetFileName(path).Split('_', '.'))
            {
                if (part.StartsWith("sub-", StringComparison.Ordinal) && BidsName.IsLabel(part[4..])) sub ??= part[4..];
                else if (part.StartsWith("ses-", StringComparison.Ordinal) && BidsName.IsLabel(part[4..])) ses ??= part[4..];
            }
            return (sub, ses);
        }
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static void Add(PSObject pso, string name, object? value)
    {
        pso.Properties.Remove(name);
        pso.Properties.Add(new PSNoteProperty(name, value));
    }
}
