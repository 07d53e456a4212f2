namespace RegPS.Engine.Pipelines;

/// <summary>
/// BIDS URIs for the derivatives' provenance (BIDS 1.9 "BIDS URI": bids:[dataset]:relative/path): the raw dataset is
/// named "raw" and TemplateFlow "templateflow" in dataset_description.json's DatasetLinks.
/// </summary>
public static class BidsSources
{
    public const string TemplateFlowUrl = "https://github.com/templateflow/templateflow";

    /// <summary>
    /// The raw dataset's root for an input: the folder holding its sub-XX folder (found by walking up from the file),
    /// or null when the file is not inside one.
    /// </summary>
    public static string? RawRoot(BidsName name)
    {
        var full = Path.GetFullPath(name.Path);
        for (var d = Path.GetDirectoryName(full); d is not null; d = Path.GetDirectoryName(d))
            if (string.Equals(Path.GetFileName(d), "sub-" + name.Subject, StringComparison.Ordinal))
                return Path.GetDirectoryName(d);
        return null;
    }

    /// <summary>bids:raw:sub-01/anat/sub-01_T1w.nii.gz, or the file name when the input is not in a BIDS tree.</summary>
    public static string RawUri(BidsName name)
    {
        var root = RawRoot(name);
        var full = Path.GetFullPath(name.Path);
        return root is null ? Path.GetFileName(full) : "bids:raw:" + Path.GetRelativePath(root, full).Replace('\\', '/');
    }

    /// <summary>
    /// The template as a BIDS URI into TemplateFlow (bids:templateflow:tpl-X/tpl-X_res-01_T1w.nii.gz) when its file
    /// lies in a tpl-X folder, else the template's space label.
    /// </summary>
    public static string SpatialReference(string templateName, string? templateSource)
    {
        if (templateSource is null) return templateName;
        var parts = Path.GetFullPath(templateSource).Replace('\\', '/').Split('/');
        int at = Array.FindLastIndex(parts, p => p.StartsWith("tpl-", StringComparison.Ordinal) && !p.Contains('.'));
        return at < 0 || at == parts.Length - 1 ? templateName : "bids:templateflow:" + string.Join('/', parts[at..]);
    }
}
