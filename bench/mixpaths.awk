# bench/mixpaths.awk: a music app's requests, one path a line, over the
# whole catalog (ids dense from 1).  Ids are skewed like play counts: a
# rank r is drawn log-uniformly (P(r <= k) = ln k / ln N: the top 100
# songs get a third of the plays, the tail of 490,000 a third too), then
# scattered over the ids (r * a large prime mod N), so popular items are
# not all neighbours in the table.
#
#   awk -v count=N -v seed=S -v songs=500000 -v albums=50000 \
#       -v artists=10000 -v keyset=1 -v words=FILE -v genres=FILE \
#       -f bench/mixpaths.awk
#
# words: search texts (words of the catalog's titles and their prefixes,
# as a user types), one a line; genres: one a line, URL-encoded.  keyset=0
# gives deep pages with offset= instead of after= (a build without keyset
# paging).
function zipf(n,    r) {
    r = int(exp(rand() * log(n + 1)))
    if (r < 1) r = 1
    if (r > n) r = n
    return (r * 999983) % n + 1
}
BEGIN {
    srand(seed)
    while ((getline w < words) > 0) word[nw++] = w
    while ((getline g < genres) > 0) genre[ng++] = g
    for (i = 0; i < count; i++) {
        x = rand() * 100
        if (x < 30)      p = "/songs/" zipf(songs)
        else if (x < 45) p = "/albums/" zipf(albums) "/songs"
        else if (x < 55) p = "/artists/" zipf(artists)
        else if (x < 65) p = "/albums/" zipf(albums)
        else if (x < 75) p = "/artists/" zipf(artists) "/albums"
        else if (x < 80) p = "/songs?album_id=" zipf(albums)
        else if (x < 85) p = "/albums?genre=" genre[int(rand() * ng)] \
                             "&offset=" 20 * (zipf(50) - 1)
        else if (x < 98) {
            # a deep page: after the id the last page ended with
            a = zipf(songs)
            if (a > songs - 20) a = songs - 20
            p = keyset ? "/songs?limit=20&after=" a \
                       : "/songs?limit=20&offset=" a
        } else           p = "/search?q=" word[int(rand() * nw)]
        print "/api/v1" p
    }
}
