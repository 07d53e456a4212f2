using System.Text.RegularExpressions;

namespace RegPS.Engine.Pipelines;

/// <summary>
/// The parts of a BIDS file name: its entities in order (sub first, then ses, acq, rec, run... as written), the suffix
/// (T1w) and the extension (.nii.gz), e.g. sub-01_ses-1_acq-mprage_run-2_T1w.nii.gz.
/// </summary>
public sealed partial class BidsName
{
    private readonly List<KeyValuePair<string, string>> _entities;

    private BidsName(string path, List<KeyValuePair<string, string>> entities, string suffix, string extension)
    {
        Path = path;
        _entities = entities;
        Suffix = suffix;
        Extension = extension;
    }

    /// <summary>The path the name was parsed from.</summary>
    public string Path { get; }

    /// <summary>The key-value entities in the order the file name gives them.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Entities => _entities;

    /// <summary>The suffix (the part after the last underscore, before the extension), e.g. T1w.</summary>
    public string Suffix { get; }

    /// <summary>.nii or .nii.gz.</summary>
    public string Extension { get; }

    /// <summary>The subject label (without "sub-").</summary>
    public string Subject => this["sub"]!;

    /// <summary>The session label (without "ses-"), or null.</summary>
    public string? Session => this["ses"];

    /// <summary>The value of an entity, or null when the name does not have it.</summary>
    public string? this[string key] => _entities.FirstOrDefault(e => e.Key == key).Value;

    [GeneratedRegex("^([a-z]+)-([a-zA-Z0-9]+)$")]
    private static partial Regex EntityPattern();

    [GeneratedRegex("^[a-zA-Z0-9]+$")]
    private static partial Regex LabelPattern();

    /// <summary>True when <paramref name="label"/> is a valid BIDS label (letters and digits only, not empty).</summary>
    public static bool IsLabel(string? label) => label is not null && LabelPattern().IsMatch(label);

    /// <summary>
    /// Parses a BIDS NIfTI file name (the folders are only checked: a sub-/ses- folder above the file must carry the
    /// same label as the name).
    /// </summary>
    /// <exception cref="ArgumentException">The name is not sub-&lt;label&gt;[_key-value...]_&lt;suffix&gt;.nii[.gz], repeats an
    /// entity, or disagrees with its sub-/ses- folders; the message says which.</exception>
    public static BidsName Parse(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = System.IO.Path.GetFileName(path);
        const string expected = "sub-<label>[_ses-<label>][_<key>-<value>...]_<suffix>.nii.gz";
        string extension = file.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase) ? file[^7..]
            : file.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) ? file[^4..]
            : throw new ArgumentException($"'{file}' is not a BIDS NIfTI file: the name must end in .nii or .nii.gz ({expected}).");
        var parts = file[..^extension.Length].Split('_');
        if (parts.Length < 2)
            throw new ArgumentException($"'{file}' is not a BIDS file name: expected {expected}.");
        var suffix = parts[^1];
        if (!LabelPattern().IsMatch(suffix))
            throw new ArgumentException($"'{file}' is not a BIDS file name: the suffix '{suffix}' must be letters and digits only, e.g. T1w ({expected}).");
        var entities = new List<KeyValuePair<string, string>>();
        foreach (var part in parts[..^1])
        {
            var m = EntityPattern().Match(part);
            if (!m.Success)
                throw new ArgumentException($"'{file}' is not a BIDS file name: '{part}' is not a key-value entity (a lower-case key, '-', a label of letters and digits), expected {expected}.");
            var key = m.Groups[1].Value;
            if (entities.Any(e => e.Key == key))
                throw new ArgumentException($"'{file}' is not a BIDS file name: the entity '{key}' appears twice.");
            entities.Add(new(key, m.Groups[2].Value));
        }
        if (entities[0].Key != "sub")
            throw new ArgumentException($"'{file}' is not a BIDS file name: it must start with the subject entity sub-<label> ({expected}).");
        if (entities.FindIndex(e => e.Key == "ses") is > 1)
            throw new ArgumentException($"'{file}' is not a BIDS file name: ses-<label> must come right after sub-<label>.");
        var name = new BidsName(path, entities, suffix, extension);
        CheckFolders(name, file);
        return name;
    }

    private static void CheckFolders(BidsName name, string file)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(name.Path));
        bool sawSub = false, sawSes = false;
        for (var d = dir is null ? null : new DirectoryInfo(dir); d is not null && !sawSub; d = d.Parent)
        {
            if (!sawSes && d.Name.StartsWith("ses-", StringComparison.Ordinal))
            {
                sawSes = true;
                if (d.Name[4..] != name.Session)
                    throw new ArgumentException($"'{file}' lies in the session folder '{d.Name}' but its name says {(name.Session is null ? "no session" : "ses-" + name.Session)}.");
            }
            else if (d.Name.StartsWith("sub-", StringComparison.Ordinal))
            {
                sawSub = true;
                if (d.Name[4..] != name.Subject)
                    throw new ArgumentException($"'{file}' lies in the subject folder '{d.Name}' but its name says sub-{name.Subject}.");
            }
        }
    }

    /// <summary>
    /// A new file name with this name's entities, minus those in <paramref name="drop"/> (and those being set), plus
    /// <paramref name="add"/> at the end in order, then _<paramref name="suffix"/><paramref name="extension"/>.
    /// </summary>
    public string Compose(IEnumerable<KeyValuePair<string, string>> add, string suffix, string extension, params string[] drop)
    {
        var extra = add.ToList();
        foreach (var e in extra)
            if (!IsLabel(e.Value)) throw new ArgumentException($"The {e.Key} label '{e.Value}' must be letters and digits only.");
        var keep = _entities.Where(e => !drop.Contains(e.Key) && !extra.Any(x => x.Key == e.Key));
        return string.Join("_", keep.Concat(extra).Select(e => $"{e.Key}-{e.Value}")) + "_" + suffix + extension;
    }

    public override string ToString() => string.Join("_", _entities.Select(e => $"{e.Key}-{e.Value}")) + "_" + Suffix + Extension;
}
