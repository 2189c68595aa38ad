"""Synthetic BRFSS CSV files of any size, in the exact schema of the public file.

Why: the benchmark needs files of 100,000 rows (about the public file) and
1,000,000 rows (ten times it) that anyone can rebuild byte for byte, without
downloading anything.  Every row is drawn from a seeded ``random.Random``
(only ``random()`` is used, whose sequence Python keeps stable), with the real
column header, the nine questions and their ids, the 55 locations with their
abbreviations, ids and coordinates, the six stratification categories with
their real values and ids, years 2011-2022, and a share of rows without a
``Data_Value`` that carry the footnote of the public file.

``python3 -m statsd.tools.synthetic ROWS PATH [--seed N]`` writes one.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from typing import Iterator, List, Optional, Sequence, Tuple

#: The header of the public file, as published (note ``"High_Confidence_Limit "``).
HEADER: Tuple[str, ...] = (
    "YearStart", "YearEnd", "LocationAbbr", "LocationDesc", "Datasource", "Class", "Topic",
    "Question", "Data_Value_Unit", "Data_Value_Type", "Data_Value", "Data_Value_Alt",
    "Data_Value_Footnote_Symbol", "Data_Value_Footnote", "Low_Confidence_Limit",
    "High_Confidence_Limit ", "Sample_Size", "Total", "Age(years)", "Education", "Gender",
    "Income", "Race/Ethnicity", "GeoLocation", "ClassID", "TopicID", "QuestionID",
    "DataValueTypeID", "LocationID", "StratificationCategory1", "Stratification1",
    "StratificationCategoryId1", "StratificationID1",
)

DATASOURCE = "Behavioral Risk Factor Surveillance System"
FOOTNOTE_SYMBOL = "~"
FOOTNOTE = "Data not available because sample size is insufficient."

#: (question, QuestionID, Class, ClassID, Topic, TopicID, typical mean, spread)
QUESTIONS: Tuple[Tuple[str, str, str, str, str, str, float, float], ...] = (
    ("Percent of adults aged 18 years and older who have obesity",
     "Q036", "Obesity / Weight Status", "OWS", "Obesity / Weight Status", "OWS1", 31.5, 6.6),
    ("Percent of adults aged 18 years and older who have an overweight classification",
     "Q037", "Obesity / Weight Status", "OWS", "Obesity / Weight Status", "OWS1", 34.1, 4.7),
    ("Percent of adults who achieve at least 150 minutes a week of moderate-intensity aerobic "
     "physical activity or 75 minutes a week of vigorous-intensity aerobic activity "
     "(or an equivalent combination)",
     "Q043", "Physical Activity", "PA", "Physical Activity - Behavior", "PA1", 48.7, 10.4),
    ("Percent of adults who achieve at least 150 minutes a week of moderate-intensity aerobic "
     "physical activity or 75 minutes a week of vigorous-intensity aerobic physical activity "
     "and engage in muscle-strengthening activities on 2 or more days a week",
     "Q044", "Physical Activity", "PA", "Physical Activity - Behavior", "PA1", 15.7, 7.1),
    ("Percent of adults who achieve at least 300 minutes a week of moderate-intensity aerobic "
     "physical activity or 150 minutes a week of vigorous-intensity aerobic activity "
     "(or an equivalent combination)",
     "Q045", "Physical Activity", "PA", "Physical Activity - Behavior", "PA1", 25.8, 5.7),
    ("Percent of adults who engage in muscle-strengthening activities on 2 or more days a week",
     "Q046", "Physical Activity", "PA", "Physical Activity - Behavior", "PA1", 27.0, 10.4),
    ("Percent of adults who engage in no leisure-time physical activity",
     "Q047", "Physical Activity", "PA", "Physical Activity - Behavior", "PA1", 25.8, 9.5),
    ("Percent of adults who report consuming fruit less than one time daily",
     "Q018", "Fruits and Vegetables", "FV", "Fruits and Vegetables - Behavior", "FV1", 38.3, 5.9),
    ("Percent of adults who report consuming vegetables less than one time daily",
     "Q019", "Fruits and Vegetables", "FV", "Fruits and Vegetables - Behavior", "FV1", 22.1, 3.8),
)

#: (LocationDesc, LocationAbbr, LocationID, GeoLocation)
LOCATIONS: Tuple[Tuple[str, str, str, str], ...] = (
    ('Alabama', 'AL', '1', '(32.84057112200048, -86.63186076199969)'),
    ('Alaska', 'AK', '2', '(64.84507995700051, -147.72205903599973)'),
    ('Arizona', 'AZ', '4', '(34.865970280000454, -111.76381127699972)'),
    ('Arkansas', 'AR', '5', '(34.74865012400045, -92.27449074299966)'),
    ('California', 'CA', '6', '(37.63864012300047, -120.99999953799971)'),
    ('Colorado', 'CO', '8', '(38.843840757000464, -106.13361092099967)'),
    ('Connecticut', 'CT', '9', '(41.56266102000046, -72.64984095199964)'),
    ('Delaware', 'DE', '10', '(39.008830667000495, -75.57774116799965)'),
    ('District of Columbia', 'DC', '11', '(38.89037138500049, -77.03196112699965)'),
    ('Florida', 'FL', '12', '(28.932040377000476, -81.92896053899966)'),
    ('Georgia', 'GA', '13', '(32.83968109300048, -83.62758034599966)'),
    ('Hawaii', 'HI', '15', '(21.304850435000446, -157.85774940299973)'),
    ('Idaho', 'ID', '16', '(43.682630005000476, -114.3637300419997)'),
    ('Illinois', 'IL', '17', '(40.48501028300046, -88.99771017799969)'),
    ('Indiana', 'IN', '18', '(39.766910452000445, -86.14996019399968)'),
    ('Iowa', 'IA', '19', '(42.46940091300047, -93.81649055599968)'),
    ('Kansas', 'KS', '20', '(38.34774030000045, -98.20078122699965)'),
    ('Kentucky', 'KY', '21', '(37.645970271000465, -84.77497104799966)'),
    ('Louisiana', 'LA', '22', '(31.31266064400046, -92.44568007099969)'),
    ('Maine', 'ME', '23', '(45.254228894000505, -68.98503133599962)'),
    ('Maryland', 'MD', '24', '(39.29058096400047, -76.60926011099963)'),
    ('Massachusetts', 'MA', '25', '(42.27687047000046, -72.08269067499964)'),
    ('Michigan', 'MI', '26', '(44.6613195430005, -84.71439026999968)'),
    ('Minnesota', 'MN', '27', '(46.35564873600049, -94.79420050299967)'),
    ('Mississippi', 'MS', '28', '(32.745510099000455, -89.53803082499968)'),
    ('Missouri', 'MO', '29', '(38.635790776000476, -92.56630005299968)'),
    ('Montana', 'MT', '30', '(47.06652897200047, -109.42442064499971)'),
    ('Nebraska', 'NE', '31', '(41.6410409880005, -99.36572062299967)'),
    ('Nevada', 'NV', '32', '(39.493240390000494, -117.07184056399967)'),
    ('New Hampshire', 'NH', '33', '(43.65595011300047, -71.50036091999965)'),
    ('New Jersey', 'NJ', '34', '(40.13057004800049, -74.27369128799967)'),
    ('New Mexico', 'NM', '35', '(34.52088095200048, -106.24058098499967)'),
    ('New York', 'NY', '36', '(42.82700103200045, -75.54397042699964)'),
    ('North Carolina', 'NC', '37', '(35.466220975000454, -79.15925046299964)'),
    ('North Dakota', 'ND', '38', '(47.47531977900047, -100.11842104899966)'),
    ('Ohio', 'OH', '39', '(40.06021014100048, -82.40426005599966)'),
    ('Oklahoma', 'OK', '40', '(35.47203135600046, -97.52107021399968)'),
    ('Oregon', 'OR', '41', '(44.56744942400047, -120.15503132599969)'),
    ('Pennsylvania', 'PA', '42', '(40.79373015200048, -77.86070029399963)'),
    ('Rhode Island', 'RI', '44', '(41.70828019300046, -71.52247031399963)'),
    ('South Carolina', 'SC', '45', '(33.998821303000454, -81.04537120699968)'),
    ('South Dakota', 'SD', '46', '(44.353130053000484, -100.3735306369997)'),
    ('Tennessee', 'TN', '47', '(35.68094058000048, -85.77449091399967)'),
    ('Texas', 'TX', '48', '(31.827240407000488, -99.42677020599967)'),
    ('Utah', 'UT', '49', '(39.360700171000474, -111.58713063499971)'),
    ('Vermont', 'VT', '50', '(43.62538123900049, -72.51764079099962)'),
    ('Virginia', 'VA', '51', '(37.54268067400045, -78.45789046299967)'),
    ('Washington', 'WA', '53', '(47.52227862900048, -120.47001078999972)'),
    ('West Virginia', 'WV', '54', '(38.66551020200046, -80.71264013499967)'),
    ('Wisconsin', 'WI', '55', '(44.39319117400049, -89.81637074199966)'),
    ('Wyoming', 'WY', '56', '(43.23554134300048, -108.10983035299967)'),
    ('National', 'US', '59', ''),
    ('Guam', 'GU', '66', '(13.444304, 144.793731)'),
    ('Puerto Rico', 'PR', '72', '(18.220833, -66.590149)'),
    ('Virgin Islands', 'VI', '78', '(18.335765, -64.896335)'),
)

#: (StratificationCategory1, StratificationCategoryId1, column of the value, values),
#: each value as (Stratification1, StratificationID1).
STRATIFICATIONS: Tuple[Tuple[str, str, str, Tuple[Tuple[str, str], ...]], ...] = (
    ("Total", "OVR", "Total", (("Total", "OVERALL"),)),
    ("Age (years)", "AGEYR", "Age(years)", (
        ("18 - 24", "AGEYR1824"), ("25 - 34", "AGEYR2534"), ("35 - 44", "AGEYR3544"),
        ("45 - 54", "AGEYR4554"), ("55 - 64", "AGEYR5564"), ("65 or older", "AGEYR65PLUS"))),
    ("Education", "EDU", "Education", (
        ("Less than high school", "EDUHS"), ("High school graduate", "EDUHSGRAD"),
        ("Some college or technical school", "EDUCOTEC"), ("College graduate", "EDUCOGRAD"))),
    ("Gender", "GEN", "Gender", (("Male", "MALE"), ("Female", "FEMALE"))),
    ("Income", "INC", "Income", (
        ("Less than $15,000", "INCLESS15"), ("$15,000 - $24,999", "INC1525"),
        ("$25,000 - $34,999", "INC2535"), ("$35,000 - $49,999", "INC3550"),
        ("$50,000 - $74,999", "INC5075"), ("$75,000 or greater", "INC75PLUS"),
        ("Data not reported", "INCNR"))),
    ("Race/Ethnicity", "RACE", "Race/Ethnicity", (
        ("Non-Hispanic White", "RACEWHT"), ("Non-Hispanic Black", "RACEBLK"),
        ("Hispanic", "RACEHIS"), ("Asian", "RACEASN"), ("Hawaiian/Pacific Islander", "RACEHPI"),
        ("American Indian/Alaska Native", "RACENAA"), ("2 or more races", "RACE2PLUS"),
        ("Other", "RACEOTH"))),
)

YEARS: Tuple[int, ...] = tuple(range(2011, 2023))

#: Share of rows published without a value (the public file has about 9 %).
EMPTY_SHARE = 0.09

DEFAULT_SEED = 2011

_COLUMN = {name: index for index, name in enumerate(HEADER)}


def _strata() -> List[Tuple[str, str, int, str, str]]:
    """Every (category, category id, column index, value, value id), flattened."""
    return [(category, category_id, _COLUMN[column], value, value_id)
            for category, category_id, column, values in STRATIFICATIONS
            for value, value_id in values]


def generate_rows(count: int, seed: int = DEFAULT_SEED) -> Iterator[List[str]]:
    """``count`` data rows (without the header), the same ones for the same seed."""
    draw = random.Random(seed).random
    strata = _strata()
    width = len(HEADER)
    for _ in range(count):
        (question, question_id, klass, class_id, topic, topic_id,
         typical, spread) = QUESTIONS[int(draw() * len(QUESTIONS))]
        location, abbreviation, location_id, geo = LOCATIONS[int(draw() * len(LOCATIONS))]
        category, category_id, column, value, value_id = strata[int(draw() * len(strata))]
        year = str(YEARS[int(draw() * len(YEARS))])
        row = [""] * width
        row[0] = row[1] = year
        row[2], row[3], row[4] = abbreviation, location, DATASOURCE
        row[5], row[6], row[7] = klass, topic, question
        row[9] = "Value"
        row[column] = value
        row[23], row[24], row[25], row[26] = geo, class_id, topic_id, question_id
        row[27], row[28] = "VALUE", location_id
        row[29], row[30], row[31], row[32] = category, value, category_id, value_id
        if draw() < EMPTY_SHARE:
            row[12], row[13] = FOOTNOTE_SYMBOL, FOOTNOTE
        else:
            # a sum of three uniforms: a bell around the typical value, within 0.5..99.5
            mean = typical + spread * (draw() + draw() + draw() - 1.5) * 2.0
            mean = min(99.5, max(0.5, mean))
            half_width = 0.5 + 6.0 * draw()
            row[10] = row[11] = f"{mean:.1f}"
            row[14] = f"{max(0.0, mean - half_width):.1f}"
            row[15] = f"{min(100.0, mean + half_width):.1f}"
            row[16] = str(50 + int(draw() * 20000))
        yield row


def write_csv(path: str, count: int, seed: int = DEFAULT_SEED) -> None:
    """Write the header and ``count`` rows to ``path`` (CRLF line ends, like ``csv``)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(generate_rows(count, seed))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.tools.synthetic",
        description="Write a deterministic synthetic BRFSS CSV in the public file's schema.")
    parser.add_argument("rows", type=int, help="number of data rows")
    parser.add_argument("path", help="file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    write_csv(args.path, args.rows, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
